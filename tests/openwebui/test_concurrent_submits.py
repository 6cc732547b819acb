"""256 ``POST /generate`` at once on Open WebUI's SQLite: every one is answered 202
(none a 500 "database is locked" from the job table), and every job ends."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble

API = "/api/v1/comfyui"
AT_ONCE = 256
WAIT = 240.0


async def end_states(
    client: httpx.AsyncClient, account: Account, job_ids: list[str]
) -> Counter[str]:
    """How the jobs ended (``waiting`` for those that did not within ``WAIT``)."""
    deadline = time.monotonic() + WAIT
    states: dict[str, str] = {}
    while len(states) < len(job_ids) and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        for job_id in [job_id for job_id in job_ids if job_id not in states]:
            response = await client.get(f"{API}/jobs/{job_id}", headers=account.headers)
            if response.json()["state"] in ("completed", "failed", "cancelled"):
                states[job_id] = response.json()["state"]
    return Counter(states.get(job_id, "waiting") for job_id in job_ids)


async def test_256_submits_at_once_on_sqlite_are_all_accepted_and_all_end(
    owui: OpenWebUIServer, admin: Account, user: Account, comfy: ThreadedDouble
) -> None:
    limits = httpx.Limits(max_connections=AT_ONCE + 8)
    async with httpx.AsyncClient(base_url=owui.url, timeout=WAIT, limits=limits) as client:
        settings = (await client.get(f"{API}/settings", headers=admin.headers)).json()
        raised = {"jobs_per_user": AT_ONCE}
        (await client.put(f"{API}/settings", headers=admin.headers, json=raised)).raise_for_status()
        try:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"{API}/generate",
                        headers=user.headers,
                        json={"prompt": f"a crowded square {number}", "steps": 1},
                    )
                    for number in range(AT_ONCE)
                )
            )
            codes = Counter(answer.status_code for answer in answers)
            accepted = [answer.json()["id"] for answer in answers if answer.status_code == 202]
            states = await end_states(client, user, accepted)
        finally:
            restored = {"jobs_per_user": settings["jobs_per_user"]}
            await client.put(f"{API}/settings", headers=admin.headers, json=restored)

    assert codes == {202: AT_ONCE}, [a.text for a in answers if a.status_code != 202][:3]
    assert states == {"completed": AT_ONCE}, states
