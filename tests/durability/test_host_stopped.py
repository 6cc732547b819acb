"""A ``comfyui-pipe serve`` process stopped in the middle of a chat generation — SIGTERM
(``docker stop``, a rolling update) or SIGKILL — while another process runs on the same
data: a graceful stop answers the chat at once and exits within seconds, leaving the job
to the other process; that one shows the job's live steps in the chat message as soon as
it adopts it, and finishes it, exactly once; nothing logs a task exception nobody awaited."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from default_models import DEFAULT_MODELS
from openwebui.harness import Account, ThreadedDouble
from openwebui.harness import sign_up as sign_up_account
from openwebui.test_chat import SocketRecorder

from comfyui_pipe.openwebui.presenter import HANDED_OVER

from .handover import first_sampling_status, sampling_seen_within, unretrieved_tasks
from .hosts import (
    Host,
    change_settings,
    file_count,
    finished_message,
    only_job,
    saved_message,
    stream_chat_generation,
    wait_until,
)

QUICK_LEASES = {"lease_heartbeat": 1, "lease_expiry": 3}
GRACEFUL_EXIT = 10.0
"""Seconds a SIGTERM'd process may take to exit."""
ADOPTED_STEPS_WITHIN = 2.0
"""Seconds from adopting a job to its message showing its sampler steps."""


@pytest.fixture
def comfy() -> Iterator[ThreadedDouble]:
    with ThreadedDouble(models=DEFAULT_MODELS, step_seconds=0.25) as double:
        yield double


@pytest.fixture
def hosts(comfy: ThreadedDouble, tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    shared = {"WEBUI_SECRET_KEY": secrets.token_urlsafe(24)}
    pair = (Host("a", comfy.url, tmp_path, shared), Host("b", comfy.url, tmp_path, shared))
    try:
        for host in pair:  # one after the other: the first one creates the database
            host.start()
        yield pair
    finally:
        for host in pair:
            host.stop()


def signed_up_admin(host: Host) -> Account:
    with httpx.Client(base_url=host.url, timeout=30) as http:
        admin = sign_up_account(http, "Ada", "ada@example.com")
        http.cookies.clear()
        change_settings(http, admin.headers, **QUICK_LEASES)
    return admin


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
async def test_the_other_process_shows_the_steps_of_the_chat_job_it_adopts_and_finishes_it(
    hosts: tuple[Host, Host], comfy: ThreadedDouble, stop: str
) -> None:
    stopped, other = hosts
    admin = signed_up_admin(stopped)
    async with SocketRecorder(other.url, admin) as recorder:
        chat_id, reply_id, answer = stream_chat_generation(
            stopped.url, admin.headers, "a lighthouse --steps 48"
        )
        with httpx.Client(base_url=stopped.url, headers=admin.headers, timeout=30) as http:
            job = wait_until(lambda: sampling_job(http), 60, "the job never sampled")

        if stop == "SIGTERM":
            assert stopped.terminate(GRACEFUL_EXIT) < GRACEFUL_EXIT
            answer.result(timeout=5)  # the chat request was answered, not cut
            with httpx.Client(base_url=other.url, timeout=30) as http:
                meanwhile = saved_message(http, admin.headers, chat_id, reply_id)
            assert meanwhile["content"] == f"⚠️ {HANDED_OVER}"  # until the job ends
        else:
            stopped.kill()
        await first_sampling_status(recorder, reply_id, within=30)

        assert sampling_seen_within(other, recorder, reply_id, job["id"]) < ADOPTED_STEPS_WITHIN
        statuses = recorder.statuses(reply_id)
        await recorder.wait_for(lambda: len(recorder.statuses(reply_id)) >= len(statuses) + 3)
        sampled = [s.split(" · ")[0] for s in recorder.statuses(reply_id)]
        sampled = sampled[[s.startswith("Sampling ") for s in sampled].index(True) :]
        assert all(s.startswith("Sampling ") for s in sampled[:3]), sampled  # not "Starting"
    with httpx.Client(base_url=other.url, headers=admin.headers, timeout=30) as http:
        done = wait_until(lambda: only_job(http, admin.headers, "completed"), 60, "not completed")
        message = wait_until(
            lambda: finished_message(http, admin.headers, chat_id, reply_id),
            30,
            "the chat message was never finished",
        )
        assert [f["id"] for f in message["files"] if f.get("id")] == done["output_file_ids"]
        assert message["content"].startswith("Done in")
        assert len(done["output_file_ids"]) == 1 == file_count(http, admin.headers)
    assert len(comfy.double.prompts_received) == 1  # handed over, not run again
    assert unretrieved_tasks(stopped, other) == []


def sampling_job(http: httpx.Client) -> dict | None:
    """The user's only job once it samples on ComfyUI."""
    jobs = http.get("/api/v1/comfyui/jobs").json()["items"]
    if not jobs:
        return None
    job = http.get(f"/api/v1/comfyui/jobs/{jobs[0]['id']}").json()  # live on its process
    return job if (job.get("progress") or {}).get("stage") == "sampling" else None
