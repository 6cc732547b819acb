"""A ComfyUI double with the bundled SD 1.5 checkpoint, an in-memory job store,
a sink writing to a temporary folder, and services built on them."""

from __future__ import annotations

import copy
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from comfyui_double import ComfyDouble

from comfyui_pipe.comfy import JobTimeouts, OutputRef
from comfyui_pipe.generation import (
    BackendPool,
    GenerationService,
    JobRecord,
    Policy,
    StoredFile,
)
from comfyui_pipe.workflow import bundled_workflows

SD15 = "v1-5-pruned-emaonly-fp16.safetensors"
MODELS = {"checkpoints": [SD15], "loras": ["detail.safetensors"]}
FAST = JobTimeouts(total=30, connect=2, history=5, cancel=5)


class MemoryJobStore:
    """Keeps copies, as a database would: a test sees only what was saved."""

    def __init__(self) -> None:
        self.records: dict[str, JobRecord] = {}
        self.writes: Counter[str] = Counter()

    async def create(self, record: JobRecord) -> None:
        self.records[record.id] = copy.deepcopy(record)
        self.writes[record.id] += 1

    async def update(self, record: JobRecord) -> None:
        self.records[record.id] = copy.deepcopy(record)
        self.writes[record.id] += 1

    async def get(self, job_id: str) -> JobRecord | None:
        record = self.records.get(job_id)
        return copy.deepcopy(record) if record else None

    async def list(
        self, owner_id: str | None, limit: int, offset: int
    ) -> tuple[list[JobRecord], int]:
        found = [r for r in self.records.values() if owner_id in (None, r.owner_id)]
        found.sort(key=lambda r: r.created_at, reverse=True)
        return [copy.deepcopy(r) for r in found[offset : offset + limit]], len(found)


@dataclass(frozen=True)
class SavedFile:
    stored: StoredFile
    job_id: str
    path: Path
    metadata: dict[str, Any]


class FolderSink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.saved: list[SavedFile] = []
        self.failure: Exception | None = None

    async def save(
        self,
        record: JobRecord,
        output: OutputRef,
        chunks: AsyncIterator[bytes],
        metadata: dict[str, Any],
    ) -> StoredFile:
        if self.failure is not None:
            raise self.failure
        file_id = f"file-{len(self.saved) + 1}"
        path = self.folder / f"{file_id}-{output.filename}"
        size = 0
        with path.open("wb") as file:
            async for chunk in chunks:
                size += file.write(chunk)
        stored = StoredFile(
            file_id, f"/files/{file_id}", output.filename, output.content_type, size
        )
        self.saved.append(SavedFile(stored, record.id, path, metadata))
        return stored


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore()


@pytest.fixture
def sink(tmp_path: Path) -> FolderSink:
    return FolderSink(tmp_path)


@pytest.fixture
async def double(comfy_double_factory: Callable[..., Awaitable[ComfyDouble]]) -> ComfyDouble:
    return await comfy_double_factory(models=MODELS)


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{free.getsockname()[1]}"


ServiceFactory = Callable[..., Awaitable[GenerationService]]


@pytest.fixture
async def make_service(store: MemoryJobStore, sink: FolderSink) -> AsyncIterator[ServiceFactory]:
    async with AsyncExitStack() as stack:

        async def make(urls: list[str], policy: Policy | None = None) -> GenerationService:
            service = GenerationService(
                BackendPool(urls, timeouts=FAST), bundled_workflows(), store, sink, policy
            )
            return await stack.enter_async_context(service)

        yield make
