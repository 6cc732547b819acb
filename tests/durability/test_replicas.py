"""Two ``comfyui-pipe serve`` replicas on one PostgreSQL and one Redis (Open WebUI's
websocket manager), in front of one ComfyUI, sharing a data volume: the per-user limit
holds across both, a cancel sent to either cancels the job, and when one is killed in
the middle of a chat generation the other adopts the job and delivers it once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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
    running_pair,
    sign_up,
    start_chat_generation,
    wait_until,
)
from .local_servers import postgres_cluster, redis_server

JOB_TIMEOUT = 60.0
SLOW_JOB = {"workflow": "sd15_txt2img", "prompt": "a lighthouse", "steps": 40}


@pytest.fixture(scope="module")
def comfy() -> Iterator[ThreadedDouble]:
    with ThreadedDouble(models=DEFAULT_MODELS, step_seconds=0.1) as double:
        yield double


@pytest.fixture(scope="module")
def replicas(
    comfy: ThreadedDouble, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Host, Host]]:
    root = tmp_path_factory.mktemp("replicas")
    with postgres_cluster() as database_url, redis_server() as redis_url:
        shared = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        with running_pair(comfy.url, root, {**shared, "WEBSOCKET_MANAGER": "redis"}) as hosts:
            yield hosts


@pytest.fixture(scope="module")
def admin(replicas: tuple[Host, Host]) -> dict[str, str]:
    with httpx.Client(base_url=replicas[0].url, timeout=30) as http:
        headers = sign_up(http)
        change_settings(http, headers, lease_heartbeat=1, lease_expiry=3, jobs_per_user=2)
        return headers


def generate(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/comfyui/generate", headers=headers, json=SLOW_JOB, timeout=30)


def test_the_per_user_limit_holds_across_replicas_and_either_one_cancels(
    replicas: tuple[Host, Host], admin: dict[str, str], comfy: ThreadedDouble
) -> None:
    urls = [replica.url for replica in replicas] * 3
    with ThreadPoolExecutor(len(urls)) as pool:
        answers = list(pool.map(lambda url: generate(url, admin), urls))

    accepted = [answer for answer in answers if answer.status_code == 202]
    refused = [answer for answer in answers if answer.status_code != 202]
    assert len(accepted) == 2
    assert {answer.status_code for answer in refused} == {429}
    assert all(answer.json()["detail"].startswith("You already have 2") for answer in refused)

    # Each job cancelled through the replica that did not start it, both at once (one by
    # one, the running job could finish while the pending one's cancel is under way).
    def cancel_elsewhere(answer: httpx.Response) -> httpx.Response:
        started_on = str(answer.request.url).removesuffix("/api/v1/comfyui/generate")
        other = next(replica.url for replica in replicas if replica.url != started_on)
        job_id = answer.json()["id"]
        return httpx.post(f"{other}/api/v1/comfyui/jobs/{job_id}/cancel", headers=admin, timeout=30)

    with ThreadPoolExecutor(len(accepted)) as pool:
        cancels = list(pool.map(cancel_elsewhere, accepted))
    for cancelled in cancels:
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["state"] == "cancelled"
    with httpx.Client(base_url=replicas[0].url, timeout=30) as http:
        states = [
            job["state"] for job in http.get("/api/v1/comfyui/jobs", headers=admin).json()["items"]
        ]
    assert states == ["cancelled", "cancelled"]
    comfy.run(comfy.double.wait_idle(timeout=20), timeout=30)


def test_a_killed_replicas_chat_job_is_delivered_once_by_the_other(
    replicas: tuple[Host, Host], admin: dict[str, str], comfy: ThreadedDouble
) -> None:
    dying, surviving = replicas
    prompts_before = len(comfy.double.prompts_received)
    with httpx.Client(base_url=dying.url, timeout=30) as http:
        chat_id, reply_id = start_chat_generation(http, admin, "a lighthouse --steps 40")
    wait_until(lambda: comfy.double.running, 30, "the job never ran on ComfyUI")

    dying.kill()

    with httpx.Client(base_url=surviving.url, timeout=30) as http:
        job = wait_until(lambda: only_job(http, admin, "completed"), JOB_TIMEOUT, "never completed")
        message = wait_until(
            lambda: finished_message(http, admin, chat_id, reply_id),
            30,
            "the chat message was never finished",
        )
        (file_id,) = job["output_file_ids"]
        assert [f["id"] for f in message["files"] if f.get("id")] == [file_id]
        assert message["content"].startswith("Done in")
        content = http.get(f"/api/v1/files/{file_id}/content", headers=admin)
        assert content.status_code == 200 and content.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert file_count(http, admin) == 1
    assert len(comfy.double.prompts_received) == prompts_before + 1  # adopted, not rerun
