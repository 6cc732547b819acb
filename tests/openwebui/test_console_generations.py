"""A user's generations: each output listed once it is stored, newest first, a page at a
time, with a thumbnail made when it was stored (a video's poster, an animation kept
animated, the start of a text) that browsers keep; filters; deleting one takes it out of
Open WebUI's files and says so in its chat; nobody sees another user's."""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
from comfyui_double.graphs import animated_webp_prompt
from PIL import Image
from sqlalchemy import func, select

from comfyui_pipe.openwebui.gallery.table import thumbnail_table
from comfyui_pipe.openwebui.runtime import get_runtime
from openwebui.harness import Account, OpenWebUIServer
from openwebui.test_api_jobs import API, finished, started
from openwebui.test_browser_media import SONG, uploaded_workflow
from openwebui.test_chat import api, saved_message, send_chat, socket_for

__all__ = ["api", "socket_for"]  # fixtures


def generations(http: httpx.Client, account: Account, **params: Any) -> dict[str, Any]:
    response = http.get(f"{API}/generations", headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def made(http: httpx.Client, account: Account, **body: Any) -> dict[str, Any]:
    job = finished(http, account, started(http, account, **body)["id"])
    assert job["state"] == "completed", job
    return job


def thumbnails_stored(owui: OpenWebUIServer, file_ids: list[str]) -> int:
    async def count() -> int:
        runtime = await get_runtime(owui.app)
        query = select(func.count()).where(thumbnail_table.c.file_id.in_(file_ids))
        async with runtime.host.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    return owui.run(count())


def test_outputs_are_listed_newest_first_with_thumbnails_made_when_stored(
    http: httpx.Client, owui: OpenWebUIServer, user: Account
) -> None:
    job = made(http, user, prompt="a quiet harbour at dawn", count=2, width=512, height=384)

    # made when stored: there before anyone looked at the gallery
    assert thumbnails_stored(owui, job["output_file_ids"]) == 2
    items = generations(http, user, limit=2)["items"]
    assert {item["id"] for item in items} == set(job["output_file_ids"])
    item = items[0]
    assert item["prompt"] == "a quiet harbour at dawn" and item["kind"] == "image"
    assert (item["width"], item["height"]) == (512, 384)
    assert item["url"] == f"/api/v1/files/{item['id']}/content"
    shown = http.get(item["thumbnail_url"], headers=user.headers)
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/webp"
    assert (
        "immutable" in shown.headers["cache-control"]
        and "max-age" in shown.headers["cache-control"]
    )
    assert max(Image.open(io.BytesIO(shown.content)).size) == 320
    again = http.get(
        item["thumbnail_url"], headers={**user.headers, "If-None-Match": shown.headers["etag"]}
    )
    assert again.status_code == 304 and not again.content


def test_pages_follow_one_another_without_repeats_and_filters_narrow_them(
    http: httpx.Client, user: Account
) -> None:
    made(http, user, prompt="zebra crossing in rain", count=3)
    made(http, user, prompt="a ZEBRA on a hill", count=1)

    seen, after = [], None
    while True:
        page = generations(http, user, limit=2, q="zebra", **({"after": after} if after else {}))
        seen += page["items"]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == 4 == len({item["id"] for item in seen})
    assert [item["created_at"] for item in seen] == sorted(
        (item["created_at"] for item in seen), reverse=True
    )
    assert seen[0]["prompt"] == "a ZEBRA on a hill"
    assert generations(http, user, q="zebra", workflow="sd15_img2img")["items"] == []
    assert generations(http, user, q="zebra", kind="video")["items"] == []
    bad = http.get(f"{API}/generations", headers=user.headers, params={"after": "nonsense"})
    assert bad.status_code == 400 and bad.json()["detail"].endswith(".")


def test_videos_animations_sound_and_text_are_shown_as_such(
    http: httpx.Client, admin: Account, user: Account
) -> None:
    words = f"waves {uuid.uuid4().hex}"
    made(http, user, workflow="wan22_t2v", prompt=words, steps=2)
    [video] = generations(http, user, kind="video", q=words)["items"]
    poster = http.get(video["thumbnail_url"], headers=user.headers)
    assert poster.status_code == 200 and Image.open(io.BytesIO(poster.content)).format == "WEBP"
    assert video["width"] and video["height"]

    with uploaded_workflow(
        http, admin, "gallery_animated", animated_webp_prompt(96, 64, 8, 8.0), "Animated"
    ):
        made(http, user, workflow="gallery_animated", prompt="spin", steps=None)
    [animation] = generations(http, user, kind="animated", workflow="gallery_animated")["items"]
    thumb = Image.open(
        io.BytesIO(http.get(animation["thumbnail_url"], headers=user.headers).content)
    )
    assert thumb.is_animated and thumb.n_frames == 8

    with uploaded_workflow(http, admin, "gallery_song", SONG, "Song"):
        made(http, user, workflow="gallery_song", prompt="a song", steps=None)
    items = generations(http, user, workflow="gallery_song")["items"]
    kinds = {item["kind"]: item for item in items}
    assert kinds["audio"]["thumbnail_url"] is None
    assert kinds["text"]["excerpt"].startswith("Verse one: the kite goes up")


def test_nobody_sees_lists_or_deletes_another_users_generations(
    http: httpx.Client, user: Account, other_user: Account, admin: Account
) -> None:
    job = made(http, user, prompt="private garden")
    [file_id] = job["output_file_ids"]

    for account in (other_user, admin):
        assert file_id not in {item["id"] for item in generations(http, account)["items"]}
        for response in (
            http.get(f"{API}/generations/{file_id}", headers=account.headers),
            http.get(f"{API}/generations/{file_id}/thumbnail", headers=account.headers),
            http.delete(f"{API}/generations/{file_id}", headers=account.headers),
        ):
            assert response.status_code == 404, response.text
    assert http.get(f"/api/v1/files/{file_id}", headers=user.headers).status_code == 200


@pytest.mark.timeout(120)
async def test_deleting_a_generation_takes_it_out_of_files_and_the_chat_says_so(
    api: httpx.AsyncClient, user: Account, socket_for: Any
) -> None:
    recorder = await socket_for(user)
    turn = await send_chat(api, user, recorder, "a lantern in fog --seed 5")
    await recorder.wait_done(turn[1])
    [image] = (await saved_message(api, user, turn))["files"]
    file_id = image["id"]
    listed = (await api.get(f"{API}/generations/{file_id}", headers=user.headers)).json()
    assert listed["chat_url"] == f"/c/{turn[0]}"
    assert listed["params"]["seed"] == 5

    deleted = await api.delete(f"{API}/generations/{file_id}", headers=user.headers)

    assert deleted.status_code == 204
    assert (await api.get(f"/api/v1/files/{file_id}", headers=user.headers)).status_code == 404
    mine = (await api.get("/api/v1/files/", headers=user.headers)).json()
    assert file_id not in {
        file["id"] for file in (mine.get("items") if isinstance(mine, dict) else mine)
    }
    message = await saved_message(api, user, turn)
    assert message["files"] == []
    assert "was deleted in the ComfyUI console" in message["content"]
    gone = await api.get(f"{API}/generations/{file_id}", headers=user.headers)
    assert gone.status_code == 404
