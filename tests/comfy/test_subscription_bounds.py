"""A flooding server never makes one prompt's subscription hold more than its bounds: the
events a job can miss go first, then big previews, then everything but the end of the run,
which always gets through."""

from __future__ import annotations

from comfyui_pipe.comfy import stream
from comfyui_pipe.comfy.events import (
    Event,
    Executed,
    Executing,
    ExecutionSuccess,
    Preview,
    Progress,
)
from comfyui_pipe.comfy.stream import Subscription

PROMPT = "p-1"


def subscription() -> Subscription:
    return Subscription(PROMPT, on_close=lambda _: None)


async def drained(subscription: Subscription) -> list[Event]:
    subscription.close()
    return [event async for event in subscription]


async def test_progress_past_the_bound_is_dropped_and_the_outcome_is_not() -> None:
    flooded = subscription()
    for value in range(50_000):
        flooded.put(Progress(PROMPT, "3", value, 50_000))
    flooded.put(Executed(PROMPT, "9", {"images": []}))
    flooded.put(ExecutionSuccess(PROMPT))
    flooded.put(Executing(PROMPT, None))

    events = await drained(flooded)

    assert len(events) == stream.MAX_QUEUED_UPDATES + 3
    assert events[-3:] == [
        Executed(PROMPT, "9", {"images": []}),
        ExecutionSuccess(PROMPT),
        Executing(PROMPT, None),
    ]
    assert flooded.dropped == 50_000 - stream.MAX_QUEUED_UPDATES
    assert not flooded.missed_events


async def test_previews_are_bounded_by_their_bytes() -> None:
    flooded = subscription()
    megabyte = b"\xff" * 2**20
    for _ in range(200):
        flooded.put(Preview(megabyte, "image/jpeg", PROMPT, "3"))

    events = await drained(flooded)

    assert len(events) == stream.MAX_QUEUED_PREVIEW_BYTES // 2**20


async def test_past_the_hard_bound_only_the_end_of_the_run_gets_through() -> None:
    flooded = subscription()
    for node in range(stream.MAX_QUEUED_EVENTS + 10):
        flooded.put(Executed(PROMPT, str(node), {}))
    flooded.put(ExecutionSuccess(PROMPT))

    events = await drained(flooded)

    assert len(events) == stream.MAX_QUEUED_EVENTS + 1
    assert events[-1] == ExecutionSuccess(PROMPT)
    assert flooded.missed_events  # the job reads its outcome from history
