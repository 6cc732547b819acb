"""``kill -9`` of a ``comfyui-pipe serve`` process in the middle of a chat generation,
then a new one on the same data: the new process adopts the job and finishes the chat
message, with one file even when the first one died while storing it; a job ComfyUI
forgot meanwhile runs again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from default_models import DEFAULT_MODELS
from openwebui.harness import ThreadedDouble

from .hosts import (
    Host,
    change_settings,
    file_count,
    finished_message,
    only_job,
    sign_up,
    start_chat_generation,
    wait_until,
)

JOB_TIMEOUT = 90.0


@pytest.fixture
def comfy() -> Iterator[ThreadedDouble]:
    with ThreadedDouble(models=DEFAULT_MODELS, step_seconds=0.15) as double:
        yield double


@pytest.fixture
def host(comfy: ThreadedDouble, tmp_path: Path) -> Iterator[Host]:
    served = Host("host", comfy.url, tmp_path, {"WEBUI_SECRET_KEY": ""})
    try:
        yield served
    finally:
        served.stop()


QUICK_LEASES = {"lease_heartbeat": 1, "lease_expiry": 3}


def test_a_job_survives_its_host_being_killed(host: Host, comfy: ThreadedDouble) -> None:
    host.start()
    with httpx.Client(base_url=host.url, timeout=30) as http:
        headers = sign_up(http)
        change_settings(http, headers, **QUICK_LEASES)
        chat_id, reply_id = start_chat_generation(http, headers, "a lighthouse --steps 40")
        wait_until(lambda: comfy.double.running, 30, "the job never ran on ComfyUI")

        host.kill()
        host.start()

        job = wait_until(
            lambda: only_job(http, headers, "completed"), JOB_TIMEOUT, "never completed"
        )
        (file_id,) = job["output_file_ids"]
        content = http.get(f"/api/v1/files/{file_id}/content", headers=headers)
        assert content.status_code == 200 and content.content[:8] == b"\x89PNG\r\n\x1a\n"
        message = wait_until(
            lambda: finished_message(http, headers, chat_id, reply_id),
            30,
            "the chat message was never finished",
        )
        assert [f["id"] for f in message["files"] if f.get("id")] == [file_id]
        assert message["content"].startswith("Done in")
        assert message["statusHistory"][-1]["done"] is True
        assert len(comfy.double.prompts_received) == 1  # adopted, not run again
        assert file_count(http, headers) == 1


def test_a_host_killed_while_storing_the_output_leaves_one_file(
    host: Host, comfy: ThreadedDouble
) -> None:
    host.start()
    with httpx.Client(base_url=host.url, timeout=30) as http:
        headers = sign_up(http)
        change_settings(http, headers, **QUICK_LEASES)
        comfy.double.faults.slow_routes["/view"] = 10.0
        chat_id, reply_id = start_chat_generation(http, headers, "a lighthouse --steps 4")
        wait_until(
            lambda: any(request.path == "/view" for request in comfy.double.requests),
            30,
            "the output was never downloaded",
        )

        host.kill()  # while it downloads the image it is storing
        comfy.reset_faults()
        host.start()

        job = wait_until(
            lambda: only_job(http, headers, "completed"), JOB_TIMEOUT, "never completed"
        )
        message = wait_until(
            lambda: finished_message(http, headers, chat_id, reply_id),
            30,
            "the chat message was never finished",
        )
        assert [f["id"] for f in message["files"] if f.get("id")] == job["output_file_ids"]
        assert len(job["output_file_ids"]) == 1 == file_count(http, headers)
        assert len(comfy.double.prompts_received) == 1


def test_a_job_comfyui_forgot_while_the_host_was_down_runs_again(
    host: Host, comfy: ThreadedDouble
) -> None:
    host.start()
    with httpx.Client(base_url=host.url, timeout=30) as http:
        headers = sign_up(http)
        change_settings(http, headers, **QUICK_LEASES)
        chat_id, reply_id = start_chat_generation(http, headers, "a lighthouse --steps 30")
        wait_until(lambda: comfy.double.running, 30, "the job never ran on ComfyUI")

        host.kill()
        comfy.run(comfy.double.restart())
        host.start()

        job = wait_until(
            lambda: only_job(http, headers, "completed"), JOB_TIMEOUT, "never completed"
        )
        assert job["attempt"] == 2 and len(job["output_file_ids"]) == 1
        message = wait_until(
            lambda: finished_message(http, headers, chat_id, reply_id),
            30,
            "the chat message was never finished",
        )
        assert [f["id"] for f in message["files"] if f.get("id")] == job["output_file_ids"]
        assert message["content"].startswith("Done in")
        assert len(comfy.double.prompts_received) == 2  # the same graph, run again
        seeds = {str(p["prompt"]["3"]["inputs"]["seed"]) for p in comfy.double.prompts_received}
        assert len(seeds) == 1 and file_count(http, headers) == 1
