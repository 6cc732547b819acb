"""A job's outputs are delivered exactly once and nothing is left over, even when the
process delivering them dies (or freezes and comes back) half-way: the next owner
stores the outputs under the same file ids (derived from the job), reusing those already
there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from conftest import MODELS, FolderSink, MemoryJobStore, ServiceFactory
from test_generation_adoption import RecordingDelivery
from test_generation_service import ask

from comfyui_pipe.comfy import OutputRef
from comfyui_pipe.generation import JobRecord, JobState, StoredFile
from comfyui_pipe.generation.leases import LeaseTimes
from comfyui_pipe.generation.sink import output_file_id


class FreezingSink(FolderSink):
    """Shared storage; the chosen process freezes at one step of its delivery."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.frozen_worker: str | None = None
        self.freeze_at: Callable[[FolderSink], bool] = lambda sink: False
        self.reached = asyncio.Event()
        self.thaw = asyncio.Event()

    async def _maybe_freeze(self, record: JobRecord) -> None:
        if record.worker_id == self.frozen_worker and self.freeze_at(self):
            self.reached.set()
            await self.thaw.wait()

    async def save(
        self,
        record: JobRecord,
        output: OutputRef,
        chunks: AsyncIterator[bytes],
        metadata: dict[str, Any],
        file_id: str,
    ) -> StoredFile:
        await self._maybe_freeze(record)
        return await super().save(record, output, chunks, metadata, file_id)

    async def attach(self, record: JobRecord, files: Any) -> None:
        await self._maybe_freeze(record)
        await super().attach(record, files)


async def test_a_process_killed_half_way_through_storing_leaves_the_rest_to_the_next_one(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, tmp_path: Path
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    sink = FreezingSink(tmp_path)
    first = await make_service([double.url], sink=sink)
    sink.frozen_worker, sink.freeze_at = first.worker_id, lambda s: len(s.saved) == 1
    record = await first.start(ask("a lighthouse --n 2 --steps 4"))
    async with asyncio.timeout(10):
        await sink.reached.wait()  # one of the two images stored, then the process dies
    store.killed.add(first.worker_id)
    prompt_id = store.records[record.id].prompt_id
    assert prompt_id is not None
    claimed = [output_file_id(record.id, prompt_id, index) for index in range(2)]
    assert [saved.stored.id for saved in sink.saved] == claimed[:1]

    delivery = RecordingDelivery()
    await make_service([double.url], sink=sink, delivery=delivery)
    adopted, files = await delivery.wait(record.id)

    assert adopted.state is JobState.COMPLETED
    assert files == claimed == adopted.output_file_ids
    assert sorted(saved.stored.id for saved in sink.saved) == sorted(claimed)  # none twice
    assert sink.attached == claimed  # linked once
    assert len(double.prompts_received) == 1


async def test_a_frozen_process_that_comes_back_keeps_the_files_another_one_delivered(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, tmp_path: Path
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    sink = FreezingSink(tmp_path)
    first = await make_service([double.url], sink=sink)
    sink.frozen_worker, sink.freeze_at = first.worker_id, lambda s: len(s.saved) == 1
    record = await first.start(ask("a lighthouse --steps 4"))
    async with asyncio.timeout(10):
        await sink.reached.wait()  # stored, about to be linked to the chat: frozen
    store.killed.add(first.worker_id)
    delivery = RecordingDelivery()
    await make_service([double.url], sink=sink, delivery=delivery)
    _, files = await delivery.wait(record.id)

    sink.thaw.set()
    ended = await first.wait(record.id)

    assert (ended.state, ended.output_file_ids) == (JobState.COMPLETED, files)
    assert [saved.stored.id for saved in sink.saved] == files  # still there, once
    assert all(saved.path.exists() for saved in sink.saved)


async def test_a_job_cancelled_while_its_process_was_dead_leaves_no_file(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, tmp_path: Path
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    sink = FreezingSink(tmp_path)
    first = await make_service([double.url], sink=sink)
    sink.frozen_worker, sink.freeze_at = first.worker_id, lambda s: len(s.saved) == 1
    record = await first.start(ask("a lighthouse --n 2 --steps 4"))
    async with asyncio.timeout(10):
        await sink.reached.wait()
    store.killed.add(first.worker_id)

    # a process that would adopt it only much later: the cancel ends it first
    patient = LeaseTimes(heartbeat=0.1, expiry=60)
    other = await make_service([double.url], sink=sink, lease_times=patient)
    cancelled = await other.cancel(record.id)

    assert cancelled.state is JobState.CANCELLED
    assert sink.saved == []


async def test_an_output_comfyui_cannot_serve_for_a_moment_is_fetched_again(
    comfy_double_factory, make_service: ServiceFactory, sink: FolderSink
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    double.faults.failing_routes["/view"] = 503  # a proxy in front of a restarting ComfyUI
    service = await make_service([double.url], sink=sink)

    record = await service.start(ask("a lighthouse --steps 2"))
    async with asyncio.timeout(10):
        while not any(request.path == "/view" for request in double.requests):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    del double.faults.failing_routes["/view"]
    ended = await service.wait(record.id)

    assert ended.state is JobState.COMPLETED
    assert [saved.stored.id for saved in sink.saved] == ended.output_file_ids
    assert sum(request.path == "/view" for request in double.requests) >= 2
