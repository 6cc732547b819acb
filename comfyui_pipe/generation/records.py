"""The persisted record of one generation, and where records are kept.

A record is the job: our queue is the unfinished records without a ``prompt_id``
(waiting for a backend), the jobs on ComfyUI those with one. The process that
follows a job is its ``worker_id``; only it writes the job, and a terminal
record is never written again (see :class:`JobStore`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Protocol

from comfyui_pipe.progress import ProgressSnapshot, ProgressTracker, Stage

from .failures import Failure


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobRecord:
    """One job at one moment; a change makes a new record (see ``transitions``).

    Times are seconds since the epoch. ``params`` holds the effective generation
    parameters (the seed actually used included) once the job is queued; ``progress``
    the latest progress summary (see :func:`progress_summary`); ``failure`` why a failed
    or cancelled job did not complete."""

    id: str
    owner_id: str
    workflow_id: str
    params: dict[str, Any]
    state: JobState
    created_at: float
    chat_id: str | None = None
    message_id: str | None = None
    backend: str | None = None
    prompt_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    failure: Failure | None = None
    output_file_ids: list[str] = field(default_factory=list)
    progress: dict[str, Any] | None = None
    worker_id: str | None = None
    """The process following the job (its lease: see ``leases``)."""
    client_id: str | None = None
    """The ComfyUI clientId the prompt was queued under: its events go to that socket."""
    prompt: dict[str, Any] | None = field(default=None, repr=False)
    """The API-format graph to queue, kept until the job ends."""
    claimed_file_ids: list[str] = field(default_factory=list)
    """The file ids its outputs are being stored under (see ``sink.output_file_id``),
    known to the process storing them; written with the record's end."""
    attempt: int = 1
    """Which run of the job this is: one more each time ComfyUI lost it while it ran
    (restarted, crashed) and it was queued again."""
    awaits_delivery: bool = False
    """It ended and its end is still to be shown on its chat message: set by its terminal
    record, cleared once shown. A process dying in between leaves it to the one that
    adopts its jobs (see ``adoption``)."""

    @property
    def dispatched(self) -> bool:
        """Queued on a ComfyUI server (not waiting in our own queue any more)."""
        return self.prompt_id is not None

    def to_row(self) -> dict[str, Any]:
        """As stored: JSON-ready columns, the failure as its JSON text in ``error``. The
        values are the record's own (not copies: a record is never changed in place)."""
        row = {field.name: getattr(self, field.name) for field in fields(self)}
        row["state"] = self.state.value
        del row["failure"]
        row["error"] = self.failure.to_json() if self.failure is not None else None
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JobRecord:
        values = dict(row)
        error = values.pop("error", None)
        # A column added by an upgrade is NULL in older rows.
        values["claimed_file_ids"] = values.get("claimed_file_ids") or []
        values["attempt"] = values.get("attempt") or 1
        values["awaits_delivery"] = bool(values.get("awaits_delivery"))
        values["state"] = JobState(values["state"])
        values["failure"] = Failure.from_json(error) if error else None
        return cls(**values)

    def keeps(self, file_ids: Sequence[str]) -> list[str]:
        """Of ``file_ids`` stored for this job, those it keeps: a completed job's outputs;
        all of them while it is unfinished (its owner stores the same ids); none once it
        failed or was cancelled."""
        if self.state is JobState.COMPLETED:
            return [file_id for file_id in file_ids if file_id in self.output_file_ids]
        return [] if self.state.terminal else list(file_ids)


@dataclass(frozen=True)
class QueuedJob:
    """An unfinished job as the scheduler and adoption see it (no graph, no params)."""

    id: str
    owner_id: str
    created_at: float
    state: JobState
    worker_id: str | None
    backend: str | None
    prompt_id: str | None
    attempt: int = 1

    @classmethod
    def of(cls, record: JobRecord) -> QueuedJob:
        return cls(
            record.id,
            record.owner_id,
            record.created_at,
            record.state,
            record.worker_id,
            record.backend,
            record.prompt_id,
            record.attempt,
        )

    @property
    def dispatched(self) -> bool:
        return self.prompt_id is not None


class JobStore(Protocol):
    async def create(self, record: JobRecord, max_unfinished_per_owner: int) -> bool:
        """Insert ``record`` unless its owner already has ``max_unfinished_per_owner``
        unfinished jobs (counted in the store, across every process); False then."""
        ...

    async def update(self, record: JobRecord) -> bool:
        """Write ``record`` if its ``worker_id`` still owns it and the stored one has not
        ended; False otherwise (nothing written)."""
        ...

    async def end_elsewhere(self, record: JobRecord) -> bool:
        """Write a terminal ``record`` whoever owns it, unless the stored one has ended,
        or was queued on ComfyUI when ``record`` was not (for a cancel from another
        process, which then cancels it on ComfyUI instead)."""
        ...

    async def adopt(self, job_id: str, previous_worker: str | None, worker_id: str) -> bool:
        """Make ``worker_id`` the job's owner if ``previous_worker`` still is and it has
        not ended, or its end awaits delivery (compare-and-set)."""
        ...

    async def unfinished(self) -> list[QueuedJob]:
        """Every job that has not ended, oldest first."""
        ...

    async def undelivered(self) -> list[QueuedJob]:
        """Every ended job whose end awaits delivery (``JobRecord.awaits_delivery``)."""
        ...

    async def delivered(self, record: JobRecord) -> bool:
        """Store that ``record``'s end was shown, if its ``worker_id`` still owns it."""
        ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def list(
        self, owner_id: str | None, limit: int, offset: int
    ) -> tuple[list[JobRecord], int]:
        """Newest first; ``owner_id=None`` lists everyone's. Returns (page, total)."""
        ...


def resume_progress(tracker: ProgressTracker, record: JobRecord) -> None:
    """Show on ``tracker`` where the running job's record last left its progress (for a
    job adopted mid-run, until its own events say more)."""
    progress = record.progress or {}
    if record.state is not JobState.RUNNING or progress.get("stage") not in set(Stage):
        return
    step, steps, percent = progress.get("step"), progress.get("steps"), progress.get("percent")
    tracker.resume(
        Stage(progress["stage"]),
        step if isinstance(step, int) else None,
        steps if isinstance(steps, int) else None,
        float(percent) if isinstance(percent, int | float) else 0.0,
    )


def progress_summary(snapshot: ProgressSnapshot) -> dict[str, Any]:
    """The JSON-ready progress kept on a record (no preview image)."""
    return {
        "text": snapshot.describe(),
        "stage": snapshot.stage.value,
        "phase": snapshot.activity,
        "percent": round(snapshot.percent, 1),
        "step": snapshot.step,
        "steps": snapshot.steps,
        "queue_position": snapshot.queue_position,
        "queue_total": snapshot.queue_total,
        "eta_seconds": None if snapshot.eta_seconds is None else round(snapshot.eta_seconds, 1),
        "jobs_ahead": snapshot.jobs_ahead,
        "elapsed_seconds": round(snapshot.elapsed_seconds, 2),
    }
