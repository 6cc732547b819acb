"""Where a job's output files go (the host's file storage).

A job's outputs are delivered exactly once, even when its process dies on the
way, without a write before storing them: each output's file id is derived from
the job, its ComfyUI prompt and the output's place (:func:`output_file_id`), so
whoever owns the job stores the same ids, each unless it already is (a previous
owner stored it), attaches the files to the job's chat message and ends the
record with their ids. Outputs are stored in order, so a job's stored files are
always the first of its ids. Files the record does not keep in the end (the job
was cancelled or failed meanwhile) are discarded by whoever learns it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID, uuid5

from comfyui_pipe.comfy.outputs import OutputRef

from .records import JobRecord

OUTPUT_FILE_NAMESPACE = UUID("5b0d6f1e-2c4a-4f8e-9a57-0c3f6e1d9b42")


def output_file_id(job_id: str, prompt_id: str, index: int) -> str:
    """The file id of the job's ``index``-th output of the ComfyUI prompt ``prompt_id``."""
    return str(uuid5(OUTPUT_FILE_NAMESPACE, f"{job_id}/{prompt_id}/{index}"))


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
        generation parameters (workflow, model, seed, steps, cfg, size, loras, prompt).
        When another process stored ``file_id`` meanwhile, that file is kept and returned."""
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
