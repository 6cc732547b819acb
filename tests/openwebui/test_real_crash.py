"""A real ComfyUI killed (SIGKILL, as an out-of-memory kill) in the middle of a chat
generation and started again: the generation runs again, same graph and seed, completes
with one file, and its message says so and shows the image; a job queued behind it
completes too."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from comfyui_real import RealComfyUI

from openwebui.harness import Account
from openwebui.real_comfyui import REAL_TIMEOUT, prompt_ids_with_text, wait_until
from openwebui.test_api_admin import API
from openwebui.test_api_jobs import finished
from openwebui.test_chat import api, jobs_of, sampled_steps, saved_message, send_chat, socket_for
from openwebui.test_real_chat import small_sd15

__all__ = ["api", "small_sd15", "socket_for"]  # fixtures shared with the chat tests

pytestmark = pytest.mark.real_comfyui


async def test_a_chat_generation_outlives_comfyui_killed_mid_run(
    api: httpx.AsyncClient,
    http: httpx.Client,
    user: Account,
    real_backend: RealComfyUI,
    small_sd15: str,
    socket_for: Any,
) -> None:
    recorder = await socket_for(user)
    turn = await send_chat(
        api, user, recorder, "a crashed lighthouse --steps 4 --seed 9501", model=small_sd15
    )
    await recorder.wait_for(lambda: sampled_steps(recorder.statuses(turn[1])), REAL_TIMEOUT)
    body = {"workflow": small_sd15.removeprefix("comfyui."), "prompt": "a patient harbour"}
    behind = await api.post(f"{API}/generate", headers=user.headers, json={**body, "steps": 2})
    assert behind.status_code == 202, behind.text

    await asyncio.to_thread(real_backend.kill)
    await asyncio.to_thread(real_backend.start)
    await recorder.wait_done(turn[1], REAL_TIMEOUT)

    statuses = recorder.statuses(turn[1])
    assert any("attempt 2 of 3" in status for status in statuses), statuses
    assert statuses[-1].startswith("Done in") and "seed 9501" in statuses[-1]
    [job] = [job for job in await jobs_of(api, user) if job["message_id"] == turn[1]]
    assert (job["state"], job["attempt"], len(job["output_file_ids"])) == ("completed", 2, 1)
    saved = await saved_message(api, user, turn)
    assert [f["id"] for f in saved["files"]] == job["output_file_ids"]
    assert saved["content"].startswith("Done in")
    image = await api.get(f"/api/v1/files/{saved['files'][0]['id']}/content", headers=user.headers)
    assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
    # the restarted server's history holds the run again, which succeeded
    [ran] = prompt_ids_with_text(real_backend, "history", "a crashed lighthouse")
    assert real_backend.get(f"/history/{ran}")[ran]["status"]["status_str"] == "success"

    second = await asyncio.to_thread(finished, http, user, behind.json()["id"], REAL_TIMEOUT)
    assert (second["state"], second["attempt"], len(second["output_file_ids"])) == (
        "completed",
        1,
        1,
    )
    await asyncio.to_thread(wait_until, real_backend.is_idle, "ComfyUI idle", REAL_TIMEOUT)
