"""A ComfyUI double with the bundled SD 1.5 checkpoint, an in-memory job store,
a sink writing to a temporary folder, and services built on them."""

from __future__ import annotations

import copy
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
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
from comfyui_pipe.generation.leases import LeaseTimes
from comfyui_pipe.generation.records import QueuedJob
from comfyui_pipe.workflow import bundled_workflows

SD15 = "v1-5-pruned-emaonly-fp16.safetensors"
MODELS = {"checkpoints": [SD15], "loras": ["detail.safetensors"]}
FAST = JobTimeouts(connect=2, history=5, cancel=5)
QUICK_LEASES = LeaseTimes(heartbeat=0.1, expiry=0.5)


class MemoryJobStore:
    """Keeps copies, as a database would: a test sees only what was saved. Also the
    lease store (heartbeats), with the same compare-and-set rules as the SQL one."""

    def __init__(self) -> None:
        self.records: dict[str, JobRecord] = {}
        self.writes: Counter[str] = Counter()
        self.heartbeats: dict[str, float] = {}
        self.killed: set[str] = set()
        """Processes that died (as the database sees it): they heartbeat no more."""

    def _unfinished_of(self, owner_id: str) -> int:
        return sum(
            1 for r in self.records.values() if r.owner_id == owner_id and not r.state.terminal
        )

    async def create(self, record: JobRecord, max_unfinished_per_owner: int | None = None) -> bool:
        limit = max_unfinished_per_owner
        if limit is not None and self._unfinished_of(record.owner_id) >= limit:
            return False
        self.records[record.id] = copy.deepcopy(record)
        self.writes[record.id] += 1
        return True

    async def update(self, record: JobRecord) -> bool:
        stored = self.records.get(record.id)
        if stored is None or stored.state.terminal or stored.worker_id != record.worker_id:
            return False
        self.records[record.id] = copy.deepcopy(record)
        self.writes[record.id] += 1
        return True

    async def end_elsewhere(self, record: JobRecord) -> bool:
        stored = self.records.get(record.id)
        if stored is None or stored.state.terminal or (stored.dispatched and not record.dispatched):
            return False
        self.records[record.id] = replace(
            stored, state=record.state, failure=record.failure, finished_at=record.finished_at
        )
        self.writes[record.id] += 1
        return True

    async def adopt(self, job_id: str, previous_worker: str | None, worker_id: str) -> bool:
        stored = self.records.get(job_id)
        if stored is None or stored.worker_id != previous_worker:
            return False
        if stored.state.terminal and not stored.awaits_delivery:
            return False
        self.records[job_id] = replace(stored, worker_id=worker_id)
        return True

    async def delivered(self, record: JobRecord) -> bool:
        stored = self.records.get(record.id)
        if stored is None or not stored.awaits_delivery or stored.worker_id != record.worker_id:
            return False
        self.records[record.id] = replace(stored, awaits_delivery=False)
        self.writes[record.id] += 1
        return True

    async def unfinished(self) -> list[QueuedJob]:
        found = [QueuedJob.of(r) for r in self.records.values() if not r.state.terminal]
        return sorted(found, key=lambda job: (job.created_at, job.id))

    async def undelivered(self) -> list[QueuedJob]:
        found = [QueuedJob.of(r) for r in self.records.values() if r.awaits_delivery]
        return sorted(found, key=lambda job: (job.created_at, job.id))

    async def heartbeat(self, worker_id: str, now: float) -> None:
        if worker_id not in self.killed:
            self.heartbeats[worker_id] = now

    async def live_workers(self, since: float) -> set[str]:
        return {worker for worker, at in self.heartbeats.items() if at >= since}

    async def leave(self, worker_id: str) -> None:
        self.heartbeats.pop(worker_id, None)

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
        self.attached: list[str] = []
        self.failure: Exception | None = None

    async def save(
        self,
        record: JobRecord,
        output: OutputRef,
        chunks: AsyncIterator[bytes],
        metadata: dict[str, Any],
        file_id: str,
    ) -> StoredFile:
        if self.failure is not None:
            raise self.failure
        if (found := (await self.find([file_id])).get(file_id)) is not None:
            return found
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

    async def find(self, file_ids: Sequence[str]) -> dict[str, StoredFile]:
        return {
            saved.stored.id: saved.stored for saved in self.saved if saved.stored.id in file_ids
        }

    async def attach(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        self.attached += [stored.id for stored in files]

    async def discard(self, file_ids: Sequence[str]) -> None:
        gone = set(file_ids)
        for saved in [saved for saved in self.saved if saved.stored.id in gone]:
            saved.path.unlink()
            self.saved.remove(saved)


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

        async def make(
            urls: list[str], policy: Policy | None = None, **options: Any
        ) -> GenerationService:
            options.setdefault("lease_times", QUICK_LEASES)
            jobs = options.pop("store", store)
            service = GenerationService(
                BackendPool(urls, timeouts=FAST),
                bundled_workflows(),
                jobs,
                options.pop("sink", sink),
                policy,
                leases=jobs,
                **options,
            )
            return await stack.enter_async_context(service)

        yield make
