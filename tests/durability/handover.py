"""What the hand-over tests share: a chat job stopped mid-sampling on one process and
followed on the process that takes it over (its live statuses on a Socket.IO client
there), and what the processes logged."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from openwebui.harness import Account
from openwebui.harness import sign_up as sign_up_account
from openwebui.test_chat import SocketRecorder

from comfyui_pipe.openwebui.presenter import HANDED_OVER

from .hosts import (
    MODEL,
    Host,
    change_settings,
    file_count,
    finished_message,
    only_job,
    saved_message,
    stream_chat_generation,
    wait_until,
)

GRACEFUL_EXIT = 10.0
"""Seconds a SIGTERM'd process may take to exit."""
ADOPTED_STEPS_WITHIN = 2.0
"""Seconds from adopting a job to its message showing its sampler steps."""
QUICK_LEASES = {"lease_heartbeat": 1, "lease_expiry": 3}


def signed_up_admin(host: Host) -> Account:
    """The first account, with leases short enough for a test to see an adoption."""
    with httpx.Client(base_url=host.url, timeout=30) as http:
        admin = sign_up_account(http, "Ada", "ada@example.com")
        http.cookies.clear()
        change_settings(http, admin.headers, **QUICK_LEASES)
    return admin


UNRETRIEVED = "never retrieved"
"""asyncio's words for a task whose exception nobody awaited."""
_ADOPTED = re.compile(r"^(\S+ \S+) \| INFO .* adopting generation (\w+)$", re.MULTILINE)


def adopted_at(host: Host, job_id: str) -> float | None:
    """When ``host`` logged that it adopted ``job_id`` (seconds since the epoch)."""
    for stamp, adopted in _ADOPTED.findall(host.logs()):
        if adopted == job_id:
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
    return None


async def first_sampling_status(recorder: SocketRecorder, message_id: str, within: float) -> str:
    """The first 'Sampling n/N' status of ``message_id`` that reaches ``recorder``."""

    def sampling() -> list[str]:
        return [s for s in recorder.statuses(message_id) if s.startswith("Sampling ")]

    await recorder.wait_for(sampling, within)
    return sampling()[0]


def sampling_seen_within(
    host: Host, recorder: SocketRecorder, message_id: str, job_id: str
) -> float:
    """Seconds from ``host`` adopting ``job_id`` to ``recorder`` holding a sampling status
    of its message (call as soon as it holds one)."""
    adopted = adopted_at(host, job_id)
    assert adopted is not None, f"{host.name} never logged adopting {job_id}"
    assert any(s.startswith("Sampling ") for s in recorder.statuses(message_id))
    return time.time() - adopted


def unretrieved_tasks(*hosts: Host) -> list[str]:
    """Lines of the hosts' logs that report a task exception nobody awaited."""
    return [line for host in hosts for line in host.logs().splitlines() if UNRETRIEVED in line]


@dataclass(frozen=True)
class ChatJob:
    """The chat turn whose process is stopped while it samples."""

    text: str
    model: str = MODEL
    timeout: float = 60.0
    """Seconds for each wait: until it samples, until it ends."""


async def stopped_mid_sampling(
    stopped: Host, other: Host, admin: Account, stop: str, chat: ChatJob
) -> dict[str, Any]:
    """Stops ``stopped`` (``stop``: SIGTERM or SIGKILL) once its chat job samples; checks
    what the user then sees on ``other``: a SIGTERM'd process exits within seconds and
    answers the chat; the adopted job's message shows its sampler steps within
    seconds of the adoption (not 'Starting'), then ends with its one file. Returns the
    completed job."""
    async with SocketRecorder(other.url, admin) as recorder:
        chat_id, reply_id, answer = stream_chat_generation(
            stopped.url, admin.headers, chat.text, chat.model
        )
        with httpx.Client(base_url=stopped.url, headers=admin.headers, timeout=30) as http:
            job = wait_until(lambda: sampling_job(http), chat.timeout, "the job never sampled")
        if stop == "SIGTERM":
            assert stopped.terminate(GRACEFUL_EXIT) < GRACEFUL_EXIT
            answer.result(timeout=5)  # the chat request was answered, not cut
            with httpx.Client(base_url=other.url, timeout=30) as http:
                meanwhile = saved_message(http, admin.headers, chat_id, reply_id)
            assert meanwhile["content"] == f"⚠️ {HANDED_OVER}"  # until the job ends
        else:
            stopped.kill()
        await first_sampling_status(recorder, reply_id, within=chat.timeout)
        seen_after = sampling_seen_within(other, recorder, reply_id, job["id"])
        assert seen_after < ADOPTED_STEPS_WITHIN, (seen_after, recorder.statuses(reply_id))
        statuses = recorder.statuses(reply_id)
        await recorder.wait_for(
            lambda: len(recorder.statuses(reply_id)) >= len(statuses) + 3, chat.timeout
        )
        sampled = [s.split(" · ")[0] for s in recorder.statuses(reply_id)]
        sampled = sampled[[s.startswith("Sampling ") for s in sampled].index(True) :]
        assert all(s.startswith("Sampling ") for s in sampled[:3]), sampled  # not "Starting"
    with httpx.Client(base_url=other.url, headers=admin.headers, timeout=30) as http:
        done = wait_until(
            lambda: only_job(http, admin.headers, "completed"), chat.timeout, "not completed"
        )
        # a SIGTERM'd process finished the message as handed over: the job's end replaces it
        message = wait_until(
            lambda: delivered(finished_message(http, admin.headers, chat_id, reply_id)),
            30,
            "the chat message was never finished with the job's end",
        )
        assert [f["id"] for f in message["files"] if f.get("id")] == done["output_file_ids"]
        assert message["content"].startswith("Done in")
        assert len(done["output_file_ids"]) == 1 == file_count(http, admin.headers)
    return dict(done)


def delivered(message: dict[str, Any] | None) -> dict[str, Any] | None:
    """``message`` unless it still says the job was handed over."""
    return None if message is None or message["content"] == f"⚠️ {HANDED_OVER}" else message


def sampling_job(http: httpx.Client) -> dict[str, Any] | None:
    """The user's only job once it samples on ComfyUI."""
    jobs = http.get("/api/v1/comfyui/jobs").json()["items"]
    if not jobs:
        return None
    job = http.get(f"/api/v1/comfyui/jobs/{jobs[0]['id']}").json()  # live on its process
    return job if (job.get("progress") or {}).get("stage") == "sampling" else None
