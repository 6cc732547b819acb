"""The relays of many jobs on one event loop: a running job's new step is delivered
before a burst of waiting jobs' new places in line, and nothing is delivered out of
order or lost."""

from __future__ import annotations

import asyncio

import pytest

from comfyui_pipe.generation import progress_relay
from comfyui_pipe.generation.progress_relay import ProgressRelay, UpdateLane
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.progress import ProgressSnapshot, Stage

WAITING_JOBS = 200


def snapshot(stage: Stage, step: int | None = None, place: int | None = None) -> ProgressSnapshot:
    return ProgressSnapshot(
        percent=0.0,
        stage=stage,
        step=step,
        steps=6 if step is not None else None,
        queue_position=place,
        queue_total=WAITING_JOBS if place is not None else None,
        eta_seconds=None,
        preview=None,
        started=stage is not Stage.QUEUED,
        elapsed_seconds=0.0,
    )


def record(job_id: str) -> JobRecord:
    return JobRecord(job_id, "alice", "w", {}, JobState.QUEUED, 0.0)


class Delivered:
    """Every delivery, in order; each yields once, as a Socket.IO emit does."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ProgressSnapshot]] = []

    async def __call__(self, job: JobRecord, state: ProgressSnapshot) -> None:
        await asyncio.sleep(0)
        self.sent.append((job.id, state))


@pytest.mark.parametrize("lane", [True, False])
async def test_a_new_step_goes_before_a_burst_of_places_in_line(
    lane: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_relay, "WAITING_INTERVAL", 0.05)
    updates = UpdateLane() if lane else None
    delivered = Delivered()
    waiting = [ProgressRelay(record(f"w{n}"), delivered, updates) for n in range(WAITING_JOBS)]
    running = ProgressRelay(record("running"), delivered, updates)
    for place, relay in enumerate(waiting, start=2):
        relay.push(snapshot(Stage.QUEUED, place=place))
    running.push(snapshot(Stage.SAMPLING, step=1))
    await asyncio.sleep(0.1)  # every first state is out, every window has ended
    delivered.sent.clear()

    for place, relay in enumerate(waiting, start=1):  # the queue moves: all at once
        relay.push(snapshot(Stage.QUEUED, place=place))
    running.push(snapshot(Stage.SAMPLING, step=2))
    for relay in [*waiting, running]:
        await relay.close()
    if updates is not None:
        await updates.aclose()

    order = [job_id for job_id, _ in delivered.sent]
    assert sorted(order) == sorted([*(f"w{n}" for n in range(WAITING_JOBS)), "running"])
    if lane:
        assert order.index("running") < 3, order.index("running")
    else:  # each relay sending for itself: the step waits behind the burst
        assert order.index("running") > WAITING_JOBS // 2


async def test_a_new_step_goes_before_the_first_places_of_a_burst_of_new_jobs() -> None:
    updates = UpdateLane()
    delivered = Delivered()
    running = ProgressRelay(record("running"), delivered, updates)
    running.push(snapshot(Stage.SAMPLING, step=1))
    await asyncio.sleep(0.01)
    delivered.sent.clear()

    queued = [ProgressRelay(record(f"w{n}"), delivered, updates) for n in range(WAITING_JOBS)]
    for place, relay in enumerate(queued, start=1):  # jobs queued at once: first places
        relay.push(snapshot(Stage.QUEUED, place=place))
    running.push(snapshot(Stage.SAMPLING, step=2))
    for relay in [*queued, running]:
        await relay.close()
    await updates.aclose()

    order = [job_id for job_id, _ in delivered.sent]
    assert sorted(order) == sorted([*(f"w{n}" for n in range(WAITING_JOBS)), "running"])
    assert order.index("running") < 3, order.index("running")


async def test_a_job_that_starts_while_its_place_waits_in_the_lane_shows_its_steps_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_relay, "WAITING_INTERVAL", 0.01)
    updates = UpdateLane()
    delivered = Delivered()
    relay = ProgressRelay(record("job"), delivered, updates)
    relay.push(snapshot(Stage.QUEUED, place=3))
    await asyncio.sleep(0.05)
    relay.push(snapshot(Stage.QUEUED, place=2))  # due at once: handed to the lane
    await asyncio.sleep(0)
    relay.push(snapshot(Stage.SAMPLING, step=1))
    relay.push(snapshot(Stage.SAMPLING, step=2))
    await relay.close()
    await updates.aclose()

    shown = [(state.stage, state.step, state.queue_position) for _, state in delivered.sent]
    assert shown[0] == (Stage.QUEUED, None, 3)
    assert shown[-2:] == [(Stage.SAMPLING, 1, None), (Stage.SAMPLING, 2, None)]


async def test_places_in_line_within_a_window_end_as_the_newest_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_relay, "WAITING_INTERVAL", 0.05)
    updates = UpdateLane()
    delivered = Delivered()
    relay = ProgressRelay(record("job"), delivered, updates)
    relay.push(snapshot(Stage.QUEUED, place=50))
    await asyncio.sleep(0.01)
    for place in range(49, 0, -1):  # the queue moves 49 times within the window
        relay.push(snapshot(Stage.QUEUED, place=place))
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)

    assert [state.queue_position for _, state in delivered.sent] == [50, 1]
    await relay.close()
    await updates.aclose()
