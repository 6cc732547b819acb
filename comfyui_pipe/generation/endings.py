"""What the end of a job's run on ComfyUI means for the job: its outputs to deliver, a
run again, or its end — decided from the outcome and the record alone (pure).

A run ComfyUI lost (it restarted, crashed, or its queue was cleared) is run again: a job
that had not started yet simply goes back to our queue; one that was running is run as
its next attempt, until it has had the admin's number of attempts.
"""

from __future__ import annotations

from dataclasses import dataclass

from comfyui_pipe.comfy import Ending, JobOutcome

from .failures import Failure, FailureKind
from .records import JobRecord, JobState
from .transitions import Cancel, Fail, Requeue


@dataclass(frozen=True)
class Deliver:
    """It succeeded: its outputs are to be stored, then it completes."""


def after_run(
    outcome: JobOutcome, record: JobRecord, *, cancelled: bool, max_attempts: int, at: float
) -> Deliver | Requeue | Fail | Cancel:
    """The next step of ``record`` whose run ended with ``outcome``; ``cancelled``: its
    owner asked for that meanwhile."""
    match outcome.ending:
        case Ending.SUCCEEDED:
            return Deliver()
        case Ending.INTERRUPTED:
            return Cancel(at)
        case Ending.LOST if cancelled:
            return Cancel(at)
        case Ending.LOST:
            return after_loss(record, max_attempts, at)
        case Ending.FAILED:
            return Fail(Failure(FailureKind.NODE_FAILED, node=outcome.failure), at)
        case Ending.NO_OUTPUT:
            return Fail(Failure(FailureKind.NO_OUTPUT), at)


def after_loss(record: JobRecord, max_attempts: int, at: float) -> Requeue | Fail:
    """A run its server forgot: queued again, unless it ran and that was its last attempt."""
    ran = record.state is JobState.RUNNING
    if ran and record.attempt >= max_attempts:
        return Fail(Failure(FailureKind.LOST, attempts=record.attempt), at)
    return Requeue(ran=ran)
