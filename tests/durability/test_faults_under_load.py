"""Two ``comfyui-pipe serve`` processes on one data directory (Open WebUI's SQLite, as
with ``UVICORN_WORKERS=2``) in front of four ComfyUI doubles: the per-user limit holds
across both, and a load of jobs under injected faults (ComfyUI crashing mid-job among
them) with one process SIGKILLed ends with nothing lost, hung or duplicated, and no job
failed but one whose every attempt ComfyUI lost, saying so."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest
from default_models import DEFAULT_MODELS
from openwebui.harness import ThreadedDouble

from .fault_load import FaultLoad, LoadPlan
from .hosts import Host, add_user, change_settings, running_pair, sign_up

CI_PLAN = LoadPlan(jobs=40, users=8, seed=8, deadline=60.0, crash_every=0.7)


@pytest.fixture(scope="module")
def doubles() -> Iterator[list[ThreadedDouble]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(ThreadedDouble(models=DEFAULT_MODELS, step_seconds=0.05))
            for _ in range(4)
        ]


@pytest.fixture(scope="module")
def hosts(
    doubles: list[ThreadedDouble], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Host, Host]]:
    with running_pair(doubles[0].url, tmp_path_factory.mktemp("one-data-dir")) as pair:
        yield pair


@pytest.fixture(scope="module")
def admin(hosts: tuple[Host, Host], doubles: list[ThreadedDouble]) -> dict[str, str]:
    with httpx.Client(base_url=hosts[0].url, timeout=30) as http:
        headers = sign_up(http)
        change_settings(
            http,
            headers,
            comfyui_url=",".join(double.url for double in doubles),
            jobs_per_user=2,
            job_timeout=30,
            lease_heartbeat=1,
            lease_expiry=3,
        )
        return headers


def test_the_per_user_limit_holds_across_two_processes_on_sqlite(
    hosts: tuple[Host, Host], admin: dict[str, str], doubles: list[ThreadedDouble]
) -> None:
    with httpx.Client(base_url=hosts[0].url, timeout=30) as http:
        user = add_user(http, admin, "Lim", "limit@example.com")
    body = {"workflow": "sd15_txt2img", "prompt": "a lighthouse", "steps": 40}

    def generate(url: str) -> int:
        answer = httpx.post(f"{url}/api/v1/comfyui/generate", headers=user, json=body, timeout=30)
        return answer.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(generate, [host.url for host in hosts] * 4))

    assert statuses == [202, 202, 429, 429, 429, 429, 429, 429]


def test_a_load_of_jobs_under_faults_and_a_killed_process_all_end_once(
    hosts: tuple[Host, Host], admin: dict[str, str], doubles: list[ThreadedDouble]
) -> None:
    report = FaultLoad(hosts, doubles, admin, CI_PLAN).run()

    summary = report.summary()
    assert report.accepted == CI_PLAN.jobs, summary
    assert (report.lost, report.hung, report.duplicated) == ([], [], []), summary
    assert report.not_sentences == [], summary
    assert report.recoverable == [], summary  # a job fails only when its attempts ran out
    assert report.completed >= CI_PLAN.jobs - 1, summary
    assert report.faults["serve SIGKILL"] == 1, summary
    assert report.faults["crash mid-job"] >= 1, summary
    print(summary)
