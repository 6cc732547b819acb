"""Videos, sound, animations and text in a real browser: a prompt to the bundled Wan 2.2
model ends with a video player in the chat that plays the clip, and the clip downloads
through Open WebUI's files API; an audio output gets a player that plays it and a text
output is shown as text; an animated WEBP is shown and stored animated."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from comfyui_double.graphs import animated_webp_prompt
from PIL import Image

from openwebui.harness import Account, OpenWebUIServer
from openwebui.test_api_admin import API
from openwebui.test_api_jobs import finished, started
from openwebui.test_browser import (  # noqa: F401 (the fixture)
    open_chat_with,
    page,
    send_message,
)

FILE_URL = "/api/v1/files/"
PLAY_FOR_A_MOMENT = """async media => {
    media.muted = true;
    await media.play();
    await new Promise(done => setTimeout(done, 300));
    return {width: media.videoWidth, height: media.videoHeight,
            duration: media.duration, time: media.currentTime, error: media.error};
}"""


@contextmanager
def uploaded_workflow(
    http: httpx.Client, admin: Account, workflow_id: str, graph: dict[str, Any], title: str
) -> Iterator[dict[str, Any]]:
    """An admin's workflow for the length of a test; yields what the upload answered."""
    upload = {"id": workflow_id, "workflow": graph, "meta": {"title": title}}
    created = http.post(f"{API}/workflows", headers=admin.headers, json=upload)
    assert created.status_code == 201, created.text
    try:
        yield created.json()
    finally:
        http.delete(f"{API}/workflows/{workflow_id}", headers=admin.headers)


def file_id_in(url: str) -> str:
    return url.split(FILE_URL, 1)[1].split("/", 1)[0].strip()


def test_a_video_result_plays_in_the_chat_and_downloads_through_the_api(
    page: object,  # noqa: F811
    owui: OpenWebUIServer,
    http: httpx.Client,
    user: Account,
) -> None:
    open_chat_with(page, owui, "comfyui.wan22_t2v")
    send_message(page, "a red kite over a hill --steps 2 --size 320x192 --seed 5")

    video = page.locator(f"video[src*='{FILE_URL}']").first
    video.wait_for(timeout=45_000)
    playing = video.evaluate(PLAY_FOR_A_MOMENT)

    assert (playing["width"], playing["height"], playing["error"]) == (320, 192, None)
    assert playing["duration"] > 1.5 and playing["time"] > 0
    file_id = file_id_in(video.get_attribute("src"))
    download = http.get(f"{FILE_URL}{file_id}/content", headers=user.headers)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("video/mp4")
    assert download.content[4:8] == b"ftyp"


ANIMATED = animated_webp_prompt(width=96, height=64, frames=8, fps=8.0)


def test_an_animated_result_is_listed_stored_and_shown_animated(
    page: object,  # noqa: F811
    owui: OpenWebUIServer,
    http: httpx.Client,
    admin: Account,
    user: Account,
) -> None:
    with uploaded_workflow(http, admin, "animated_test", ANIMATED, "Animation") as created:
        assert created["outputs"] == ["animated"]
        listed = http.get(f"{API}/workflows", headers=admin.headers).json()
        [wan] = [w for w in listed if w["id"] == "wan22_t2v"]
        assert (wan["outputs"], wan["available"]) == (["video"], True)

        job = finished(
            http, user, started(http, user, workflow="animated_test", prompt="x", steps=None)["id"]
        )
        assert job["state"] == "completed", job["error"]
        (file_id,) = job["output_file_ids"]
        stored = http.get(f"{FILE_URL}{file_id}/content", headers=user.headers)
        assert stored.headers["content-type"].startswith("image/webp")
        with Image.open(io.BytesIO(stored.content)) as webp:
            assert webp.is_animated and webp.n_frames == 8

        open_chat_with(page, owui, "comfyui.animated_test")
        send_message(page, "spin")
        image = page.locator(f"img[src^='{FILE_URL}']").first
        image.wait_for(timeout=30_000)
        assert image.evaluate("img => img.complete && img.naturalWidth") == 96


LYRICS = "Verse one: the kite goes up\nChorus: `la la` over the hill"
SONG = {
    "1": {"class_type": "EmptyLatentAudio", "inputs": {"seconds": 1.5, "batch_size": 1}},
    "2": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
    "3": {"class_type": "VAEDecodeAudio", "inputs": {"samples": ["1", 0], "vae": ["2", 0]}},
    "4": {"class_type": "SaveAudio", "inputs": {"audio": ["3", 0], "filename_prefix": "song"}},
    "5": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": LYRICS}},
    "6": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},
}


def test_an_audio_result_plays_and_a_text_result_reads_in_the_chat(
    page: object,  # noqa: F811
    owui: OpenWebUIServer,
    http: httpx.Client,
    admin: Account,
    user: Account,
) -> None:
    with uploaded_workflow(http, admin, "song_test", SONG, "Song") as created:
        assert sorted(created["outputs"]) == ["audio", "text"]

        open_chat_with(page, owui, "comfyui.song_test")
        send_message(page, "a tune about a kite")
        audio = page.locator(f"audio[src*='{FILE_URL}']").first
        audio.wait_for(timeout=30_000)
        playing = audio.evaluate(PLAY_FOR_A_MOMENT)

        assert playing["error"] is None and 1.4 < playing["duration"] < 1.6
        assert playing["time"] > 0
        for line in LYRICS.splitlines():
            assert page.get_by_text(line, exact=True).is_visible()
        download = http.get(
            f"{FILE_URL}{file_id_in(audio.get_attribute('src'))}/content", headers=user.headers
        )
        assert download.headers["content-type"].startswith("audio/flac")
        assert download.content[:4] == b"fLaC"
