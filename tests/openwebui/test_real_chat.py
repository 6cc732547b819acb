"""Chat generation against a real ComfyUI: progress with live previews, the image in
Open WebUI's files, Stop of a running generation and of one waiting in ComfyUI's queue,
and the jobs API's cancel — what the double promises, checked on the real thing."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from comfyui_real import RealComfyUI
from PIL import Image

from openwebui.harness import Account
from openwebui.real_comfyui import (
    REAL_TIMEOUT,
    busy_with_another_client,
    prompt_ids_with_text,
    small_sd15_model,
    wait_until,
)
from openwebui.test_api_admin import API
from openwebui.test_api_jobs import finished, wait_for_job
from openwebui.test_chat import (
    SocketRecorder,
    api,
    jobs_of,
    phase_rank,
    sampled_steps,
    saved_message,
    send_chat,
    socket_for,
)

__all__ = ["api", "socket_for"]  # fixtures shared with the chat tests

pytestmark = pytest.mark.real_comfyui

STOP_TIMEOUT = 30.0
"""Seconds from Stop until ComfyUI is idle: the interrupt lands at the next sampler step."""


@pytest.fixture
def small_sd15(
    http: httpx.Client, admin: Account, user: Account, real_backend: RealComfyUI
) -> Iterator[str]:
    with small_sd15_model(http, admin, user) as model:
        yield model


async def test_chat_generation_shows_real_progress_and_previews_and_stores_the_image(
    api: httpx.AsyncClient,
    user: Account,
    other_user: Account,
    real_backend: RealComfyUI,
    small_sd15: str,
    socket_for: Any,
) -> None:
    recorder = await socket_for(user)
    turn = await send_chat(
        api, user, recorder, "a real red fox --steps 3 --seed 9101", model=small_sd15
    )
    await recorder.wait_done(turn[1], REAL_TIMEOUT)

    statuses = recorder.statuses(turn[1])
    ranks = [phase_rank(s) for s in statuses]
    assert ranks == sorted(ranks), statuses
    steps = sampled_steps(statuses)
    assert steps == sorted(steps), statuses
    assert len(set(steps)) >= 2, statuses  # the latest step may give way to decoding at once
    assert all(s.split()[1].endswith("/3") for s in statuses if s.startswith("Sampling"))
    assert statuses[-1].startswith("Done in") and "seed 9101" in statuses[-1]
    assert real_backend.url.removeprefix("http://") not in str(recorder.events)

    *previews, final = [event["files"] for event in recorder.of(turn[1], "files")]
    assert previews and all(f[0]["url"].startswith("data:image/") for f in previews)
    [image] = final
    content = await api.get(image["url"], headers=user.headers)
    assert content.status_code == 200
    assert content.headers["content-type"].startswith("image/png")
    with Image.open(io.BytesIO(content.content)) as png:
        assert (png.format, png.size) == ("PNG", (64, 64))
    assert (await api.get(image["url"], headers=other_user.headers)).status_code == 404
    described = await api.get(f"/api/v1/files/{image['id']}", headers=user.headers)
    assert described.json()["meta"]["comfyui"]["seed"] == 9101

    saved = await saved_message(api, user, turn)
    assert [f["id"] for f in saved["files"]] == [image["id"]]
    assert saved["statusHistory"][-1]["description"] == statuses[-1]
    [job] = [job for job in await jobs_of(api, user) if job["message_id"] == turn[1]]
    assert job["state"] == "completed"
    [ran] = prompt_ids_with_text(real_backend, "history", "a real red fox")
    assert real_backend.get(f"/history/{ran}")[ran]["status"]["status_str"] == "success"


async def stopped(
    api: httpx.AsyncClient, account: Account, recorder: SocketRecorder, turn: tuple[str, str]
) -> dict[str, Any]:
    """Presses Stop on the chat's running response; returns the saved message."""
    response = await api.post(f"/api/tasks/chat/{turn[0]}/stop", headers=account.headers)
    assert response.status_code == 200 and response.json()["status"] is True
    await recorder.wait_done(turn[1], STOP_TIMEOUT)
    return await saved_message(api, account, turn)


async def test_stop_removes_a_generation_waiting_in_comfyuis_queue(
    api: httpx.AsyncClient,
    user: Account,
    real_backend: RealComfyUI,
    small_sd15: str,
    socket_for: Any,
) -> None:
    recorder = await socket_for(user)
    async with busy_with_another_client(real_backend) as other_job:
        turn = await send_chat(api, user, recorder, "a waiting heron --seed 9201", model=small_sd15)
        [waiting] = await asyncio.to_thread(
            wait_until,
            lambda: prompt_ids_with_text(real_backend, "queue_pending", "a waiting heron"),
            "our prompt queued on ComfyUI behind the other client's",
        )
        await recorder.wait_for(
            lambda: any(s.startswith("Queued (#1") for s in recorder.statuses(turn[1])),
            REAL_TIMEOUT,
        )

        saved = await stopped(api, user, recorder, turn)

        assert saved["statusHistory"][-1]["description"] == "Cancelled"
        assert "cancelled" in saved["content"].lower() and not saved.get("files")
        queue = real_backend.get("/queue")
        assert queue["queue_pending"] == []
        assert [entry[1] for entry in queue["queue_running"]] == [other_job]
    assert real_backend.get(f"/history/{waiting}") == {}


async def test_stop_interrupts_a_generation_running_on_comfyui(
    api: httpx.AsyncClient,
    user: Account,
    real_backend: RealComfyUI,
    small_sd15: str,
    socket_for: Any,
) -> None:
    recorder = await socket_for(user)
    turn = await send_chat(
        api, user, recorder, "a long storm --steps 60 --seed 9301", model=small_sd15
    )
    await recorder.wait_for(lambda: sampled_steps(recorder.statuses(turn[1])), REAL_TIMEOUT)

    pressed = time.monotonic()
    saved = await stopped(api, user, recorder, turn)
    await asyncio.to_thread(real_backend.wait_idle, STOP_TIMEOUT)

    assert time.monotonic() - pressed < STOP_TIMEOUT
    assert saved["statusHistory"][-1]["description"] == "Cancelled"
    assert "cancelled" in saved["content"].lower() and not saved.get("files")
    [ran] = prompt_ids_with_text(real_backend, "history", "a long storm")
    status = real_backend.get(f"/history/{ran}")[ran]["status"]
    assert status["status_str"] == "error"
    assert [message[0] for message in status["messages"]][-1] == "execution_interrupted"
    [job] = [job for job in await jobs_of(api, user) if job["message_id"] == turn[1]]
    assert job["state"] == "cancelled"


def test_jobs_api_cancel_interrupts_the_running_job_and_drops_the_waiting_one(
    http: httpx.Client, user: Account, real_backend: RealComfyUI, small_sd15: str
) -> None:
    workflow = small_sd15.removeprefix("comfyui.")
    running = http.post(
        f"{API}/generate",
        headers=user.headers,
        json={"workflow": workflow, "prompt": "a cancelled owl", "steps": 60, "seed": 9401},
    ).json()
    wait_for_job(
        http,
        user,
        running["id"],
        lambda job: (job["progress"] or {}).get("stage") == "sampling",
        REAL_TIMEOUT,
    )
    waiting = http.post(
        f"{API}/generate",
        headers=user.headers,
        json={"workflow": workflow, "prompt": "a dropped wren", "steps": 3, "seed": 9402},
    ).json()

    for job in (waiting, running):
        response = http.post(f"{API}/jobs/{job['id']}/cancel", headers=user.headers)
        assert response.status_code == 200, response.text
        assert finished(http, user, job["id"])["state"] == "cancelled"

    real_backend.wait_idle(STOP_TIMEOUT)
    assert prompt_ids_with_text(real_backend, "history", "a dropped wren") == []
    [interrupted] = prompt_ids_with_text(real_backend, "history", "a cancelled owl")
    status = real_backend.get(f"/history/{interrupted}")[interrupted]["status"]
    assert [message[0] for message in status["messages"]][-1] == "execution_interrupted"
