"""Jobs outlive the process that started them: a stopping process leaves them on
ComfyUI, the next one adopts them by prompt id and finishes them exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from comfyui_double import ComfyDouble
from conftest import MODELS, FolderSink, MemoryJobStore, ServiceFactory
from test_generation_service import ProgressLog, ask

from comfyui_pipe.comfy.outputs import outputs_from_history
from comfyui_pipe.generation import (
    Failure,
    FailureKind,
    GenerationService,
    JobRecord,
    JobState,
    Policy,
    StoredFile,
    TooManyJobs,
)
from comfyui_pipe.generation.errors import JobHandedOver
from comfyui_pipe.generation.sink import output_file_id
from comfyui_pipe.progress import ProgressSnapshot, Stage


async def one_output(double: ComfyDouble, prompt_id: str) -> tuple[Any, Any, dict[str, Any]]:
    """What the sink is given to store the first output of ``prompt_id``."""
    [ref] = outputs_from_history(double.history[prompt_id])

    async def chunks() -> AsyncIterator[bytes]:
        yield (double.workspace.output_dir / ref.subfolder / ref.filename).read_bytes()

    return ref, chunks(), {}


class RecordingDelivery:
    """Where adopted jobs report: their progress and their end."""

    def __init__(self) -> None:
        self.snapshots: list[ProgressSnapshot] = []
        self.ends: dict[str, tuple[JobRecord, list[str]]] = {}
        self.ended = asyncio.Event()

    async def sink_for(self, record: JobRecord) -> RecordingDelivery:
        return self

    async def show(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        self.snapshots.append(snapshot)

    async def end(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        self.ends[record.id] = (record, [stored.id for stored in files])
        self.ended.set()

    async def wait(self, job_id: str) -> tuple[JobRecord, list[str]]:
        async with asyncio.timeout(20):
            while job_id not in self.ends:
                self.ended.clear()
                await self.ended.wait()
        return self.ends[job_id]


async def stop_while_sampling(service: GenerationService, steps: int = 30) -> JobRecord:
    """Start a job, and stop the service once the job samples."""
    progress = ProgressLog()
    record = await service.start(ask(f"a lighthouse --steps {steps}"), progress)
    await progress.wait_sampling()
    await service.aclose()
    return record


async def test_a_stopping_process_leaves_its_job_running_for_the_next_one(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, sink: FolderSink
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    first = await make_service([double.url])
    record = await stop_while_sampling(first)

    with pytest.raises(JobHandedOver):
        await first.wait(record.id)
    assert store.records[record.id].state is JobState.RUNNING
    assert double.running is not None  # still on ComfyUI

    delivery = RecordingDelivery()
    await make_service([double.url], delivery=delivery)
    adopted, files = await delivery.wait(record.id)

    assert adopted.state is JobState.COMPLETED
    assert [saved.stored.id for saved in sink.saved] == files == sink.attached
    assert store.records[record.id].output_file_ids == files
    steps = [snapshot.step for snapshot in delivery.snapshots if snapshot.step]
    assert steps and max(steps) == 30  # progress resumed on the adopting process


async def test_an_adopted_job_shows_its_sampler_steps_at_once_not_starting(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    record = await stop_while_sampling(await make_service([double.url]), steps=40)

    delivery = RecordingDelivery()
    await make_service([double.url], delivery=delivery)
    await delivery.wait(record.id)

    shown = [snapshot.describe() for snapshot in delivery.snapshots]
    stepping = [s for s in delivery.snapshots if s.step is not None]
    assert stepping and stepping[0].activity == f"Sampling {stepping[0].step}/40", shown
    assert not [s for s in stepping if s.stage is Stage.STARTING], shown
    # the first thing shown is where the stopping process last saw it, not "Waiting"
    assert delivery.snapshots[0].activity.startswith("Sampling "), shown


async def test_a_job_that_finished_while_nobody_watched_is_delivered(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, sink: FolderSink
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    record = await stop_while_sampling(await make_service([double.url]), steps=20)
    await double.wait_idle()

    delivery = RecordingDelivery()
    await make_service([double.url], delivery=delivery)
    adopted, files = await delivery.wait(record.id)

    assert adopted.state is JobState.COMPLETED and len(files) == 1
    assert [saved.job_id for saved in sink.saved] == [record.id]


async def test_a_job_comfyui_forgot_while_nobody_watched_runs_again(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, sink: FolderSink
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    record = await stop_while_sampling(await make_service([double.url]))
    await double.restart()

    delivery = RecordingDelivery()
    await make_service([double.url], delivery=delivery)
    adopted, files = await delivery.wait(record.id)

    assert (adopted.state, adopted.attempt) == (JobState.COMPLETED, 2)
    assert files == [saved.stored.id for saved in sink.saved] and len(files) == 1
    assert len(double.prompts_received) == 2
    lines = [snapshot.describe() for snapshot in delivery.snapshots]
    assert "ComfyUI restarted — running again (attempt 2 of 3)" in lines, lines


async def test_outputs_an_earlier_owner_stored_of_a_run_comfyui_forgot_are_discarded(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, sink: FolderSink
) -> None:
    """The earlier owner died while storing a finished run's outputs, and ComfyUI restarted
    before anyone fetched the rest: the job runs again; only the new run's file stays."""
    double = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    record = await stop_while_sampling(await make_service([double.url]), steps=4)
    await double.wait_idle()
    prompt_id = store.records[record.id].prompt_id
    assert prompt_id is not None
    stale = output_file_id(record.id, prompt_id, 0)
    await sink.save(store.records[record.id], *await one_output(double, prompt_id), stale)
    await double.restart()

    delivery = RecordingDelivery()
    await make_service([double.url], delivery=delivery)
    adopted, files = await delivery.wait(record.id)

    assert (adopted.state, adopted.attempt) == (JobState.COMPLETED, 2)
    assert [saved.stored.id for saved in sink.saved] == files and stale not in files


async def test_a_restart_keeps_our_queue(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, sink: FolderSink
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    policy = Policy(jobs_per_user=4, server_depth=1)
    first = await make_service([double.url], policy)
    progress = ProgressLog()
    running = await first.start(ask("a cat --steps 20"), progress)
    waiting = [await first.start(ask(f"a dog #{n} --steps 2")) for n in range(2)]
    await progress.wait_sampling()
    await first.aclose()
    assert [store.records[r.id].prompt_id for r in waiting] == [None, None]

    delivery = RecordingDelivery()
    await make_service([double.url], policy, delivery=delivery)

    for record in (running, *waiting):
        adopted, files = await delivery.wait(record.id)
        assert adopted.state is JobState.COMPLETED and len(files) == 1
    assert len(sink.saved) == 3
    assert sorted(saved.job_id for saved in sink.saved) == sorted(r.id for r in (running, *waiting))


@contextlib.asynccontextmanager
async def alive(store: MemoryJobStore, worker_id: str) -> AsyncIterator[None]:
    """Another process keeping its lease meanwhile."""

    async def beat() -> None:
        while True:
            await store.heartbeat(worker_id, time.time())
            await asyncio.sleep(0.05)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()


async def test_a_process_that_lost_its_job_leaves_it_and_its_files_to_the_new_owner(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, sink: FolderSink
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    service = await make_service([double.url])
    progress = ProgressLog()
    # its 0.2 s of sampling end before its progress is written (half a second in)
    record = await service.start(ask("a cat --steps 10"), progress)
    await progress.wait_sampling()

    # another process took the job over (this one looked dead to it), and lives on
    assert await store.adopt(record.id, service.worker_id, "another-process")
    async with alive(store, "another-process"):
        await double.wait_idle(timeout=10)
        ended = await service.wait(record.id)

    assert ended.worker_id == "another-process" and not ended.state.terminal
    # what it stored has the ids the new owner stores, which reuses them: none twice
    assert ended.prompt_id is not None
    assert [saved.stored.id for saved in sink.saved] == [
        output_file_id(record.id, ended.prompt_id, 0)
    ]


async def test_the_per_user_limit_holds_across_processes(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    policy = Policy(jobs_per_user=1)
    one, other = await make_service([double.url], policy), await make_service([double.url], policy)
    first = await one.start(ask("a cat --steps 10"))

    with pytest.raises(TooManyJobs):
        await other.start(ask("a dog --steps 2"))
    assert (await one.wait(first.id)).state is JobState.COMPLETED
    again = await other.start(ask("a dog --steps 2"))
    assert (await other.wait(again.id)).state is JobState.COMPLETED


async def test_another_process_cancels_a_job_waiting_in_our_queue(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    policy = Policy(jobs_per_user=4, server_depth=1)
    owner = await make_service([double.url], policy)
    other = await make_service([double.url], policy)
    running = await owner.start(ask("a cat --steps 10"))
    waiting = await owner.start(ask("a dog --steps 2"))

    cancelled = await other.cancel(waiting.id)

    assert cancelled.state is JobState.CANCELLED
    assert cancelled.failure == Failure(FailureKind.CANCELLED)
    assert (await owner.wait(waiting.id)).state is JobState.CANCELLED
    assert (await owner.wait(running.id)).state is JobState.COMPLETED
    assert all(body["prompt_id"] != waiting.prompt_id for body in double.prompts_received)


class DiesAtTheEnd:
    """The sink of a chat job whose process dies right after the job's terminal record:
    the end never reaches the message."""

    def __init__(self) -> None:
        self.ending = asyncio.Event()

    async def show(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        return None

    async def end(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        self.ending.set()
        await asyncio.Event().wait()  # the process is gone: nothing more happens here


async def test_the_end_of_a_chat_job_whose_process_died_after_its_last_write_is_shown(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, sink: FolderSink
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    first = await make_service([double.url])
    dying = DiesAtTheEnd()
    chat = await first.start(ask("a lighthouse --steps 2", chat_id="c", message_id="m"), dying)
    api = await first.start(ask("a harbour --steps 2"), DiesAtTheEnd())
    async with asyncio.timeout(10):
        await dying.ending.wait()
    store.killed.add(first.worker_id)
    ended = store.records[chat.id]
    assert (ended.state, ended.awaits_delivery) == (JobState.COMPLETED, True)

    delivery = RecordingDelivery()
    second = await make_service([double.url], delivery=delivery)
    shown, files = await delivery.wait(chat.id)

    assert shown.state is JobState.COMPLETED and files == shown.output_file_ids
    assert files == [saved.stored.id for saved in sink.saved if saved.job_id == chat.id]
    stored = store.records[chat.id]
    assert (stored.awaits_delivery, stored.worker_id) == (False, second.worker_id)
    await asyncio.sleep(0.5)  # a few of the second process's looks at the table
    assert list(delivery.ends) == [chat.id]  # once, and not the API job's (no message)
    assert store.records[api.id].awaits_delivery is False


async def test_a_chat_job_shown_to_its_end_awaits_no_delivery(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    service = await make_service([double.url])
    record = await service.start(ask("a cat --steps 2", chat_id="c", message_id="m"), ProgressLog())

    ended = await service.wait(record.id)

    assert ended.state is JobState.COMPLETED
    assert store.records[record.id].awaits_delivery is False
