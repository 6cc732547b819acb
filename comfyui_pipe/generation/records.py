"""The persisted record of one generation, and where records are kept.

A record is the job: our queue is the unfinished records without a ``prompt_id``
(waiting for a backend), the jobs on ComfyUI those with one. The process that
follows a job is its ``worker_id``; only it writes the job, and a terminal
record is never written again (see :class:`JobStore`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


@dataclass
class JobRecord:
    """Times are seconds since the epoch. ``params`` holds the effective generation
    parameters (the seed actually used included) once the job is queued; ``progress``
    the latest progress summary (see :func:`progress_summary`)."""

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
    error: str | None = None
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

    @property
    def dispatched(self) -> bool:
        """Queued on a ComfyUI server (not waiting in our own queue any more)."""
        return self.prompt_id is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the state as its string value)."""
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        # A column added by an upgrade is NULL in older rows.
        claimed = data.get("claimed_file_ids") or []
        return cls(**{**data, "state": JobState(data["state"]), "claimed_file_ids": claimed})

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
        not ended (compare-and-set)."""
        ...

    async def unfinished(self) -> list[QueuedJob]:
        """Every job that has not ended, oldest first."""
        ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def list(
        self, owner_id: str | None, limit: int, offset: int
    ) -> tuple[list[JobRecord], int]:
        """Newest first; ``owner_id=None`` lists everyone's. Returns (page, total)."""
        ...
