"""Every change of a job's record, and the one function that makes it.

A record changes only through :func:`transition`, which checks that the change is
allowed in the record's state and returns the new record (records are immutable).
A change that the state does not allow raises :class:`IllegalTransition`: a bug,
never a user's doing.

The life of a job::

    queued ──Dispatch──▶ queued on ComfyUI ──Start──▶ running ──Complete──▶ completed
      ▲                      │  (Rename)                 │
      └───────Requeue────────┘◀──────────Requeue─────────┘
    (a Requeue of a job that ran is its next attempt: ``attempt`` counts them)
    any unfinished state ──Fail──▶ failed, ──Cancel──▶ cancelled
    (Adopt, SaveProgress and Claim keep the state. A terminal record never changes, but
    for the delivery of its end to its chat message: taken over (Adopt), then Delivered.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .failures import CANCELLED, Failure
from .records import JobRecord, JobState


class IllegalTransition(Exception):
    """A change the record's state does not allow (a bug in the caller)."""

    def __init__(self, record: JobRecord, change: Change) -> None:
        self.record_state = record.state
        self.dispatched = record.dispatched
        self.change = change
        where = "on ComfyUI" if record.dispatched else "in our queue"
        super().__init__(f"{type(change).__name__} of a {record.state} job ({where})")


@dataclass(frozen=True)
class Dispatch:
    """Sent to a server: the prompt id and clientId it is queued under there."""

    backend: str
    prompt_id: str
    client_id: str


@dataclass(frozen=True)
class Rename:
    """An old server queued it under an id of its own choosing."""

    prompt_id: str


@dataclass(frozen=True)
class Requeue:
    """Back into our queue: its server was unavailable or forgot it. ``ran``: it was
    running (its next run is its next attempt); ``pinned``: its input images are on its
    server, it waits for that one."""

    ran: bool = False
    pinned: bool = False


@dataclass(frozen=True)
class Start:
    at: float


@dataclass(frozen=True)
class SaveProgress:
    progress: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """The file ids its outputs are being stored under."""

    file_ids: tuple[str, ...]


@dataclass(frozen=True)
class Adopt:
    worker_id: str


@dataclass(frozen=True)
class Delivered:
    """Its end was shown on its chat message."""


@dataclass(frozen=True)
class Complete:
    output_file_ids: tuple[str, ...]
    at: float
    progress: dict[str, Any] | None = None


@dataclass(frozen=True)
class Fail:
    failure: Failure
    at: float
    progress: dict[str, Any] | None = None


@dataclass(frozen=True)
class Cancel:
    at: float
    progress: dict[str, Any] | None = None
    failure: Failure = CANCELLED


Change = (
    Dispatch
    | Rename
    | Requeue
    | Start
    | SaveProgress
    | Claim
    | Adopt
    | Delivered
    | Complete
    | Fail
    | Cancel
)


def transition(record: JobRecord, change: Change) -> JobRecord:
    """``record`` after ``change``; :class:`IllegalTransition` if its state forbids it."""
    if not _allowed(record, change):
        raise IllegalTransition(record, change)
    match change:
        case Dispatch(backend=backend, prompt_id=prompt_id, client_id=client_id):
            return replace(record, backend=backend, prompt_id=prompt_id, client_id=client_id)
        case Rename(prompt_id=prompt_id):
            return replace(record, prompt_id=prompt_id)
        case Requeue(ran=ran, pinned=pinned):
            return replace(
                record,
                state=JobState.QUEUED,
                backend=record.backend if pinned else None,
                prompt_id=None,
                client_id=None,
                started_at=None,
                attempt=record.attempt + 1 if ran else record.attempt,
            )
        case Start(at=at):
            return replace(record, state=JobState.RUNNING, started_at=at)
        case SaveProgress(progress=progress):
            return replace(record, progress=progress)
        case Claim(file_ids=file_ids):
            return replace(record, claimed_file_ids=list(file_ids))
        case Adopt(worker_id=worker_id):
            return replace(record, worker_id=worker_id)
        case Delivered():
            return replace(record, awaits_delivery=False)
        case Complete(output_file_ids=ids, at=at, progress=progress):
            ended = replace(record, state=JobState.COMPLETED, output_file_ids=list(ids))
            return _ended(ended, at, progress)
        case Fail(failure=failure, at=at, progress=progress):
            return _ended(replace(record, state=JobState.FAILED, failure=failure), at, progress)
        case Cancel(failure=failure, at=at, progress=progress):
            ended = replace(record, state=JobState.CANCELLED, failure=failure)
            return _ended(ended, at, progress)


def _allowed(record: JobRecord, change: Change) -> bool:
    """The table of legal changes, by the record's state and whether it is on ComfyUI."""
    if record.state.terminal:
        return record.awaits_delivery and isinstance(change, Adopt | Delivered)
    on_comfyui = record.dispatched
    match change:
        case Dispatch():
            return record.state is JobState.QUEUED and not on_comfyui
        case Rename() | Start():
            return record.state is JobState.QUEUED and on_comfyui
        case Requeue(ran=True):
            return record.state is JobState.RUNNING
        case Requeue() | Claim() | Complete():
            return on_comfyui
        case SaveProgress() | Adopt() | Fail() | Cancel():
            return True
        case Delivered():
            return False


def _ended(record: JobRecord, at: float, progress: dict[str, Any] | None) -> JobRecord:
    """Ended: a job with a chat message awaits the delivery of its end there."""
    in_chat = record.chat_id is not None and record.message_id is not None
    return replace(
        record, finished_at=at, progress=progress or record.progress, awaits_delivery=in_chat
    )
