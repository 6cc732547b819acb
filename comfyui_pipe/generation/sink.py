"""Where a job's output files go (the host's file storage).

Outputs are stored first, then the job's record is ended with their ids; only
when that write wins are they attached to the job's chat message (otherwise
another process delivered the job, or it was cancelled meanwhile, and they are
discarded): a job's outputs are delivered exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from comfyui_pipe.comfy.outputs import OutputRef

from .records import JobRecord


@dataclass(frozen=True)
class StoredFile:
    id: str
    url: str
    name: str
    content_type: str
    size: int


class OutputSink(Protocol):
    async def save(
        self,
        record: JobRecord,
        output: OutputRef,
        chunks: AsyncIterator[bytes],
        metadata: dict[str, Any],
    ) -> StoredFile:
        """Store one output as ``record``'s owner's file; ``metadata`` holds the
        generation parameters (workflow, model, seed, steps, cfg, size, loras, prompt)."""
        ...

    async def attach(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        """Link stored files to the job's chat message, if it has one."""
        ...

    async def discard(self, files: Sequence[StoredFile]) -> None:
        """Delete stored files that will not be delivered."""
        ...
