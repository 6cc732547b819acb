"""Issue 8's polling case: 64 clients polling GET /jobs/{id} as fast as they can on
SQLite while jobs start, run and end. No request fails with a 5xx ("database is
locked"), POST /generate answers 202 or a 4xx sentence, and every job ends."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble

API = "/api/v1/comfyui"
POLLERS = 64
JOBS_PER_ACCOUNT = 2
WAIT = 60.0


async def poll_until_ended(
    client: httpx.AsyncClient, account: Account, job_ids: list[str], seen: Counter[int]
) -> None:
    deadline = time.monotonic() + WAIT
    pending = set(job_ids)
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            response = await client.get(f"{API}/jobs/{job_id}", headers=account.headers)
            seen[response.status_code] += 1
            if response.status_code == 200 and response.json()["state"] in (
                "completed",
                "failed",
                "cancelled",
            ):
                pending.discard(job_id)


async def start_jobs(
    client: httpx.AsyncClient, account: Account, answers: list[httpx.Response]
) -> list[str]:
    started = []
    for number in range(JOBS_PER_ACCOUNT):
        response = await client.post(
            f"{API}/generate",
            headers=account.headers,
            json={"prompt": f"a busy harbour {number}", "steps": 6},
        )
        answers.append(response)
        if response.status_code == 202:
            started.append(response.json()["id"])
    return started


async def test_64_pollers_on_sqlite_leave_no_error_and_no_job_behind(
    owui: OpenWebUIServer,
    user: Account,
    other_user: Account,
    comfy: ThreadedDouble,
) -> None:
    previous_step_seconds, comfy.double.step_seconds = comfy.double.step_seconds, 0.05
    limits = httpx.Limits(max_connections=POLLERS + 8)
    seen: Counter[int] = Counter()
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(base_url=owui.url, timeout=WAIT, limits=limits) as client:
        first = await start_jobs(client, user, answers)
        pollers = [
            asyncio.create_task(poll_until_ended(client, user, first, seen)) for _ in range(POLLERS)
        ]
        # generations start while the pollers hammer the jobs table
        second = await start_jobs(client, other_user, answers)
        await asyncio.gather(*pollers)
        finals: list[dict[str, Any]] = []
        for account, job_ids in ((user, first), (other_user, second)):
            await poll_until_ended(client, account, job_ids, seen)
            for job_id in job_ids:
                response = await client.get(f"{API}/jobs/{job_id}", headers=account.headers)
                finals.append(response.json())
    comfy.double.step_seconds = previous_step_seconds

    assert all(r.status_code == 202 or 400 <= r.status_code < 500 for r in answers), [
        (r.status_code, r.text) for r in answers
    ]
    assert first and second
    assert not [code for code in seen if code >= 500], seen
    assert sum(seen.values()) >= POLLERS * len(first)
    assert all(job["state"] == "completed" for job in finals), finals
