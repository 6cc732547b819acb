"""Where a job's output files go (the host's file storage)."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
