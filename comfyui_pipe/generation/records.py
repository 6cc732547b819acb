"""The persisted record of one generation, and where records are kept."""

from __future__ import annotations

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the state as its string value)."""
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        return cls(**{**data, "state": JobState(data["state"])})


class JobStore(Protocol):
    async def create(self, record: JobRecord) -> None: ...

    async def update(self, record: JobRecord) -> None: ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def list(
        self, owner_id: str | None, limit: int, offset: int
    ) -> tuple[list[JobRecord], int]:
        """Newest first; ``owner_id=None`` lists everyone's. Returns (page, total)."""
        ...
