"""Latest-wins progress through the real Open WebUI Socket.IO path: each step reaches the
owner's client at once with its preview, nothing older than the newest state is sent,
and the outcome is always the last event."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.job_events import WAIT, JobEvents
from openwebui.test_api_jobs import API

STEPS = 4
STEP_SECONDS = 1.1
"""Longer than the 0.5 s step window and the 1 s preview window: each step's newest
state, with its preview, is sent before the next step."""


@pytest.fixture
def slower_steps_than_the_window(comfy: ThreadedDouble) -> Iterator[None]:
    previous = comfy.double.step_seconds
    comfy.double.step_seconds = STEP_SECONDS
    yield
    comfy.double.step_seconds = previous


async def test_every_step_and_the_newest_state_of_each_reach_the_client(
    owui: OpenWebUIServer, user: Account, slower_steps_than_the_window: None
) -> None:
    async with (
        JobEvents(owui.url, user) as client,
        httpx.AsyncClient(base_url=owui.url, timeout=WAIT) as api,
    ):
        response = await api.post(
            f"{API}/generate", headers=user.headers, json={"prompt": "a heron", "steps": STEPS}
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]

        events = await client.wait_for(job_id, lambda event: event["state"] == "completed")

    sampling = [event for event in events if event["stage"] == "sampling"]
    steps = [event["step"] for event in sampling if event["step"]]
    # Each step is held 1.1 s: it goes out at once. The last one is followed at once by
    # decoding, which may supersede it before it is sent: nothing older than the newest
    # state is ever sent.
    assert set(range(1, STEPS)) <= set(steps) <= set(range(1, STEPS + 1)), steps
    assert steps == sorted(steps), "a step arrived after a newer one"
    # ComfyUI sends a step's preview with it (before its progress frame); previews go at
    # most once a second, each with its own step.
    previews = [event for event in sampling if event["preview"]]
    assert {event["step"] for event in previews} >= set(range(1, STEPS)), sampling
    assert all(event["preview"].startswith("data:image/jpeg;base64,") for event in previews)
    assert events[-1]["state"] == "completed" and events[-1]["output_file_ids"]
