"""Where a job's output files go (the host's file storage).

A job's outputs are delivered exactly once, even when its process dies on the
way: their file ids are claimed in the job's record first (``claimed_file_ids``),
each output is then stored under its id unless it already is (a previous owner
stored it), the files are attached to the job's chat message, and the record
is ended with their ids. Files the record does not keep in the end (the job was
cancelled or failed meanwhile, or another process claimed other ids) are
discarded by whoever learns it.
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
        file_id: str,
    ) -> StoredFile:
        """Store one output as ``record``'s owner's file ``file_id``; ``metadata`` holds the
        generation parameters (workflow, model, seed, steps, cfg, size, loras, prompt)."""
        ...

    async def find(self, file_ids: Sequence[str]) -> dict[str, StoredFile]:
        """The files of ``file_ids`` that are stored, by id."""
        ...

    async def attach(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        """Link stored files to the job's chat message, if it has one (again: a no-op)."""
        ...

    async def discard(self, file_ids: Sequence[str]) -> None:
        """Delete the files of ``file_ids`` that are stored (the others: nothing)."""
        ...
