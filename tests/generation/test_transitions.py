"""Every change of a record goes through ``transition``: each legal one in every state it
is legal in, and every illegal one raises. Records are never changed in place."""

from __future__ import annotations

import dataclasses
from itertools import product

import pytest

from comfyui_pipe.comfy import Ending, JobOutcome
from comfyui_pipe.generation.endings import after_run
from comfyui_pipe.generation.failures import Failure, FailureKind
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.transitions import (
    Adopt,
    Cancel,
    Change,
    Claim,
    Complete,
    Delivered,
    Dispatch,
    Fail,
    IllegalTransition,
    Rename,
    Requeue,
    SaveProgress,
    Start,
    transition,
)

CHANGES: list[Change] = [
    Dispatch("http://comfy:8188", "p-1", "client-1"),
    Rename("p-2"),
    Requeue(),
    Start(at=2.0),
    SaveProgress({"percent": 50.0}),
    Claim(("file-1",)),
    Adopt("worker-2"),
    Delivered(),
    Complete(("file-1",), at=3.0),
    Fail(Failure(FailureKind.LOST), at=3.0),
    Cancel(at=3.0),
]

WAITING = JobRecord("job", "alice", "sd15", {}, JobState.QUEUED, 1.0, worker_id="worker-1")
ON_COMFYUI = dataclasses.replace(WAITING, backend="http://comfy:8188", prompt_id="p-1")
RUNNING = dataclasses.replace(ON_COMFYUI, state=JobState.RUNNING, started_at=2.0)
ENDED = [
    dataclasses.replace(RUNNING, state=state, finished_at=3.0)
    for state in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)
]
AWAITING_DELIVERY = dataclasses.replace(ENDED[0], chat_id="c", awaits_delivery=True)
STATES = {"waiting": WAITING, "on ComfyUI": ON_COMFYUI, "running": RUNNING} | {
    f"{record.state}": record for record in ENDED
}
STATES["ended, its chat message unfinished"] = AWAITING_DELIVERY

LEGAL = {
    "waiting": {Dispatch, SaveProgress, Adopt, Fail, Cancel},
    "on ComfyUI": {Rename, Start, Requeue, SaveProgress, Claim, Adopt, Complete, Fail, Cancel},
    "running": {Requeue, SaveProgress, Claim, Adopt, Complete, Fail, Cancel},
    "completed": set(),
    "failed": set(),
    "cancelled": set(),
    "ended, its chat message unfinished": {Adopt, Delivered},
}


@pytest.mark.parametrize(
    ("state", "change"),
    [(state, change) for state, change in product(STATES, CHANGES)],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_each_change_goes_through_in_the_states_that_allow_it_and_raises_elsewhere(
    state: str, change: Change
) -> None:
    before = STATES[state]
    kept = dataclasses.asdict(before)

    if type(change) in LEGAL[state]:
        after = transition(before, change)
        assert after is not before
    else:
        with pytest.raises(IllegalTransition):
            transition(before, change)

    assert dataclasses.asdict(before) == kept  # the record given is never changed


def test_the_life_of_a_job_through_the_one_function() -> None:
    record = transition(WAITING, Dispatch("http://comfy:8188", "p-1", "client-1"))
    assert (record.state, record.prompt_id, record.backend) == (
        JobState.QUEUED,
        "p-1",
        "http://comfy:8188",
    )
    record = transition(record, Requeue())
    assert (record.state, record.prompt_id, record.backend) == (JobState.QUEUED, None, None)
    record = transition(record, Dispatch("http://comfy:8188", "p-3", "client-1"))
    record = transition(record, Start(at=2.0))
    assert (record.state, record.started_at) == (JobState.RUNNING, 2.0)
    record = transition(record, Claim(("a", "b")))
    record = transition(record, Complete(("a", "b"), at=3.0, progress={"percent": 100.0}))
    assert (record.state, record.output_file_ids, record.finished_at) == (
        JobState.COMPLETED,
        ["a", "b"],
        3.0,
    )
    assert record.progress == {"percent": 100.0}


def test_a_cancel_and_a_failure_keep_why() -> None:
    cancelled = transition(RUNNING, Cancel(at=3.0))
    failed = transition(RUNNING, Fail(Failure(FailureKind.TIMED_OUT, seconds=9.0), at=3.0))
    assert cancelled.failure == Failure(FailureKind.CANCELLED)
    assert failed.failure == Failure(FailureKind.TIMED_OUT, seconds=9.0)


def test_records_cannot_be_changed_in_place() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        WAITING.state = JobState.RUNNING  # type: ignore[misc]


def test_a_failure_is_stored_as_json_and_an_earlier_versions_sentence_is_kept() -> None:
    failure = Failure(FailureKind.TIMED_OUT, seconds=12.5, before_start=True)
    row = dataclasses.replace(RUNNING, state=JobState.FAILED, failure=failure).to_row()

    assert JobRecord.from_row(row).failure == failure
    legacy = {**row, "error": "ComfyUI restarted and lost this job."}
    assert JobRecord.from_row(legacy).failure == Failure(
        FailureKind.EARLIER_VERSION, text="ComfyUI restarted and lost this job."
    )


def test_a_requeue_after_a_run_is_the_next_attempt_and_only_a_running_job_has_one() -> None:
    again = transition(RUNNING, Requeue(ran=True))
    assert (again.state, again.attempt, again.prompt_id, again.started_at) == (
        JobState.QUEUED,
        2,
        None,
        None,
    )
    assert transition(ON_COMFYUI, Requeue()).attempt == 1
    with pytest.raises(IllegalTransition):
        transition(ON_COMFYUI, Requeue(ran=True))
    pinned = transition(RUNNING, Requeue(ran=True, pinned=True))
    assert (pinned.backend, pinned.dispatched) == ("http://comfy:8188", False)
    assert transition(pinned, Dispatch("http://comfy:8188", "p-2", "c")).attempt == 2


def test_an_attempt_is_stored_and_an_older_row_without_one_is_the_first() -> None:
    again = transition(RUNNING, Requeue(ran=True))
    assert JobRecord.from_row(again.to_row()).attempt == 2
    assert JobRecord.from_row({**again.to_row(), "attempt": None}).attempt == 1


@pytest.mark.parametrize(
    ("record", "max_attempts", "expected"),
    [
        (ON_COMFYUI, 1, Requeue()),
        (RUNNING, 3, Requeue(ran=True)),
        (dataclasses.replace(RUNNING, attempt=2), 3, Requeue(ran=True)),
        (
            dataclasses.replace(RUNNING, attempt=3),
            3,
            Fail(Failure(FailureKind.LOST, attempts=3), at=5.0),
        ),
        (RUNNING, 1, Fail(Failure(FailureKind.LOST, attempts=1), at=5.0)),
    ],
)
def test_a_run_comfyui_lost_is_run_again_until_its_attempts_run_out(
    record: JobRecord, max_attempts: int, expected: Change
) -> None:
    lost = JobOutcome("p-1", Ending.LOST)
    assert after_run(lost, record, cancelled=False, max_attempts=max_attempts, at=5.0) == expected
    assert after_run(lost, record, cancelled=True, max_attempts=3, at=5.0) == Cancel(at=5.0)


def test_the_end_of_a_job_in_a_chat_awaits_its_delivery_there() -> None:
    in_chat = dataclasses.replace(RUNNING, chat_id="c", message_id="m")
    for change in (Complete((), at=3.0), Fail(Failure(FailureKind.LOST), at=3.0), Cancel(3.0)):
        assert transition(in_chat, change).awaits_delivery is True
        assert transition(RUNNING, change).awaits_delivery is False
    shown = transition(transition(in_chat, Cancel(3.0)), Delivered())
    assert (shown.state, shown.awaits_delivery) == (JobState.CANCELLED, False)
