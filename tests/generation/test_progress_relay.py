"""The relays of many jobs on one event loop: a running job's new step is shown before a
burst of waiting jobs' new places in line, nothing is shown out of order, and a job's end
comes after its last progress."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from comfyui_pipe.generation.progress_relay import ProgressRelay, UpdateLane
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.progress import ProgressSnapshot, Stage
from comfyui_pipe.progress.throttle import ProgressThrottle

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


def record(job_id: str, state: JobState = JobState.QUEUED) -> JobRecord:
    return JobRecord(job_id, "alice", "w", {}, state, 0.0)


class Shown:
    """Every snapshot shown and every end, in order; each yields once, as a Socket.IO
    emit does."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ProgressSnapshot | JobState]] = []

    async def show(self, job: JobRecord, state: ProgressSnapshot) -> None:
        await asyncio.sleep(0)
        self.sent.append((job.id, state))

    async def end(self, job: JobRecord, files: Sequence[StoredFile]) -> None:
        await asyncio.sleep(0)
        self.sent.append((job.id, job.state))


def relay(job_id: str, shown: Shown, lane: UpdateLane, waiting: float = 2.0) -> ProgressRelay:
    return ProgressRelay(record(job_id), shown, lane, ProgressThrottle(waiting_window=waiting))


async def close(relays: list[ProgressRelay], lane: UpdateLane) -> None:
    for each in relays:
        await each.close(record(each.record.id, JobState.COMPLETED))
    await lane.aclose()


async def test_a_new_step_goes_before_a_burst_of_places_in_line() -> None:
    lane, shown = UpdateLane(), Shown()
    waiting = [relay(f"w{n}", shown, lane, waiting=0.05) for n in range(WAITING_JOBS)]
    running = relay("running", shown, lane)
    for place, each in enumerate(waiting, start=2):
        each.offer(snapshot(Stage.QUEUED, place=place))
    running.offer(snapshot(Stage.SAMPLING, step=1))
    await asyncio.sleep(0.1)  # every first state is out, every window has ended
    shown.sent.clear()

    for place, each in enumerate(waiting, start=1):  # the queue moves: all at once
        each.offer(snapshot(Stage.QUEUED, place=place))
    running.offer(snapshot(Stage.SAMPLING, step=2))
    await asyncio.sleep(0.05)  # the lane has sent them all (an end drops what it holds)
    await close([*waiting, running], lane)

    order = [job_id for job_id, state in shown.sent if isinstance(state, ProgressSnapshot)]
    assert sorted(order) == sorted([*(f"w{n}" for n in range(WAITING_JOBS)), "running"])
    assert order.index("running") < 3, order.index("running")


async def test_a_new_step_goes_before_the_first_places_of_a_burst_of_new_jobs() -> None:
    lane, shown = UpdateLane(), Shown()
    running = relay("running", shown, lane)
    running.offer(snapshot(Stage.SAMPLING, step=1))
    await asyncio.sleep(0.01)
    shown.sent.clear()

    queued = [relay(f"w{n}", shown, lane) for n in range(WAITING_JOBS)]
    for place, each in enumerate(queued, start=1):  # jobs queued at once: first places
        each.offer(snapshot(Stage.QUEUED, place=place))
    running.offer(snapshot(Stage.SAMPLING, step=2))
    await asyncio.sleep(0.05)
    await close([*queued, running], lane)

    order = [job_id for job_id, state in shown.sent if isinstance(state, ProgressSnapshot)]
    assert sorted(order) == sorted([*(f"w{n}" for n in range(WAITING_JOBS)), "running"])
    assert order.index("running") < 3, order.index("running")


async def test_a_job_that_starts_while_its_place_waits_in_the_lane_shows_its_newest_step() -> None:
    lane, shown = UpdateLane(), Shown()
    job = relay("job", shown, lane, waiting=0.01)
    job.offer(snapshot(Stage.QUEUED, place=3))
    await asyncio.sleep(0.05)
    job.offer(snapshot(Stage.QUEUED, place=2))  # due at once: handed to the lane
    await asyncio.sleep(0)
    job.offer(snapshot(Stage.SAMPLING, step=1))
    job.offer(snapshot(Stage.SAMPLING, step=2))
    await close([job], lane)

    states = [state for _, state in shown.sent]
    steps = [(s.stage, s.step) for s in states if isinstance(s, ProgressSnapshot)]
    assert steps[0] == (Stage.QUEUED, None)
    assert steps[-1] == (Stage.SAMPLING, 2)
    assert (Stage.SAMPLING, 1) not in steps  # held no more once step 2 came: never sent
    assert states[-1] is JobState.COMPLETED  # the end, after the last progress


async def test_places_in_line_within_a_window_end_as_the_newest_one() -> None:
    lane, shown = UpdateLane(), Shown()
    job = relay("job", shown, lane, waiting=0.05)
    job.offer(snapshot(Stage.QUEUED, place=50))
    await asyncio.sleep(0.01)
    for place in range(49, 0, -1):  # the queue moves 49 times within the window
        job.offer(snapshot(Stage.QUEUED, place=place))
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)

    assert [state.queue_position for _, state in shown.sent] == [50, 1]  # type: ignore[union-attr]
    await close([job], lane)
