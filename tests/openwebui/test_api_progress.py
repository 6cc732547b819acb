"""Latest-wins progress through the real Open WebUI Socket.IO path: every step reaches the
owner's client at once, the newest state of each step follows at the window's end, and
the outcome is always the last event."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.test_api_jobs import API, WAIT, JobEvents

STEPS = 4
STEP_SECONDS = 0.8
"""Longer than the 0.5 s window: each step's newest state is sent before the next step."""


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
    steps = [event["step"] for event in sampling]
    assert sorted({step for step in steps if step}) == list(range(1, STEPS + 1)), steps
    assert steps == sorted(steps), "a step arrived after a newer one"
    # ComfyUI sends a step's preview after its progress: the step goes out at once,
    # the preview with the step's newest state at the end of the window.
    steps_with_their_preview = {event["step"] for event in sampling if event["preview"]}
    assert steps_with_their_preview == set(range(1, STEPS + 1)), sampling
    assert all(
        event["preview"].startswith("data:image/jpeg;base64,")
        for event in sampling
        if event["preview"]
    )
    assert events[-1]["state"] == "completed" and events[-1]["output_file_ids"]
