"""GenerationService against the ComfyUI double: outputs, validation, cancelling."""

from __future__ import annotations

import asyncio
import copy
import io
import time
from collections.abc import Sequence

import pytest
from comfyui_double import ComfyDouble
from conftest import MODELS, SD15, FolderSink, MemoryJobStore, ServiceFactory
from PIL import Image

from comfyui_pipe.comfy import ComfyClient, ComfyUnreachable, PromptRejected
from comfyui_pipe.generation import (
    Failure,
    FailureKind,
    GenerationRequest,
    InputImage,
    JobRecord,
    JobState,
    NotAnImage,
    Policy,
    RequestError,
    StoredFile,
    TooManyJobs,
    UnknownWorkflow,
    parse_message,
    progress_saves,
)
from comfyui_pipe.openwebui.presenter import describe, describe_failure
from comfyui_pipe.progress import ProgressSnapshot


class ProgressLog:
    """A job's ``ProgressSink``: what it was shown, and its end."""

    def __init__(self) -> None:
        self.snapshots: list[ProgressSnapshot] = []
        self.ends: list[tuple[JobRecord, list[str]]] = []
        self.sampling = asyncio.Event()

    async def show(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        self.snapshots.append(snapshot)
        if snapshot.step:
            self.sampling.set()

    async def end(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        self.ends.append((record, [stored.id for stored in files]))

    async def wait_sampling(self) -> None:
        async with asyncio.timeout(10):
            await self.sampling.wait()


def ask(
    message: str, owner: str = "alice", workflow: str = "sd15_txt2img", **kwargs
) -> GenerationRequest:
    parsed = parse_message(message)
    return GenerationRequest(owner, workflow, parsed.prompt, parsed.options, **kwargs)


def png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buffer, format="PNG")
    return buffer.getvalue()


def prompts_posted(double: ComfyDouble) -> int:
    return sum(1 for r in double.requests if r.method == "POST" and r.path == "/prompt")


async def slow_double(factory) -> ComfyDouble:
    return await factory(models=MODELS, step_seconds=0.05)


async def test_a_txt2img_generation_stores_its_image_with_the_parameters(
    double: ComfyDouble, make_service: ServiceFactory, store: MemoryJobStore, sink: FolderSink
) -> None:
    service = await make_service([double.url])
    progress = ProgressLog()

    record = await service.start(
        ask("a lighthouse --steps 8 --cfg 5 --seed 1234 --size 512x384"), progress
    )
    assert record.state in (JobState.QUEUED, JobState.RUNNING)
    done = await service.wait(record.id)

    assert done.state is JobState.COMPLETED
    assert done.failure is None
    assert [saved.stored.id for saved in sink.saved] == done.output_file_ids
    (saved,) = sink.saved
    assert saved.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved.metadata | {"prompt": "a lighthouse"} == saved.metadata
    expected = {"workflow": "sd15_txt2img", "model": SD15, "seed": 1234, "steps": 8, "cfg": 5.0}
    assert expected.items() <= saved.metadata.items()
    assert (saved.metadata["width"], saved.metadata["height"], saved.metadata["count"]) == (
        512,
        384,
        1,
    )
    assert (await store.get(record.id)) == done
    percents = [snapshot.percent for snapshot in progress.snapshots]
    assert percents == sorted(percents)
    assert any(snapshot.step for snapshot in progress.snapshots)
    assert progress.ends == [(done, done.output_file_ids)]
    assert service.running("alice") == 0


async def test_a_thirty_step_job_writes_its_record_a_few_times_not_once_per_step(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.1)
    service = await make_service([double.url])
    progress = ProgressLog()

    record = await service.start(ask("a lighthouse --steps 30"), progress)
    await progress.wait_sampling()
    # within a second of sampling its record shows the steps (what an adopter shows)
    sampling_seen = time.monotonic()
    while (stored := await store.get(record.id)) is not None and not (
        stored.progress and stored.progress.get("stage") == "sampling"
    ):
        assert time.monotonic() - sampling_seen < 1.0, stored
        await asyncio.sleep(0.02)
    assert stored is not None and stored.state is JobState.RUNNING
    assert stored.progress is not None and stored.progress["steps"] == 30
    done = await service.wait(record.id)

    assert done.state is JobState.COMPLETED
    assert {s.step for s in progress.snapshots} >= set(range(1, 31))
    # created, queued on ComfyUI, started (half a second into sampling), finished (the
    # output files' ids are derived, not claimed first): progress is saved only when an
    # admin asks for it (Policy.progress_save_every)
    assert store.writes[record.id] == 4
    assert done.progress is not None and done.progress["percent"] == 100


async def test_progress_is_saved_on_a_slow_timer_when_asked(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    service = await make_service([double.url], Policy(progress_save_every=0.2))

    started_at = time.monotonic()
    record = await service.start(ask("a lighthouse --steps 20"))
    done = await service.wait(record.id)
    wall = time.monotonic() - started_at

    assert done.state is JobState.COMPLETED
    assert 5 < store.writes[record.id] <= 5 + wall // 0.2


async def test_jobs_waiting_in_our_queue_are_not_written_while_they_wait(
    comfy_double_factory,
    make_service: ServiceFactory,
    store: MemoryJobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a running job's own timed writes (progress_saves) are not what this counts: on a
    # busy machine a job's three steps may outlast half a second
    monkeypatch.setattr(progress_saves, "SAMPLING_WRITE_DELAY", 60.0)
    monkeypatch.setattr(progress_saves, "START_WRITE_DELAY", 60.0)
    double = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    service = await make_service([double.url], Policy(jobs_per_user=24))

    records = [await service.start(ask(f"a cat #{n} --steps 3")) for n in range(24)]
    for record in records:
        assert (await service.wait(record.id)).state is JobState.COMPLETED

    # created, queued on ComfyUI, finished, whatever their place while waiting
    assert {store.writes[record.id] for record in records} == {3}


async def test_the_random_seed_is_reported_as_used(
    double: ComfyDouble, make_service: ServiceFactory
) -> None:
    service = await make_service([double.url])
    done = await service.wait((await service.start(ask("a cat --steps 2"))).id)

    posted = double.prompts_received[-1]["prompt"]
    assert done.params["seed"] == posted["3"]["inputs"]["seed"]
    assert done.prompt_id in double.history and done.backend == double.url


async def test_img2img_feeds_the_name_the_server_returned(
    double: ComfyDouble, make_service: ServiceFactory
) -> None:
    service = await make_service([double.url])
    names = []
    for color in ("red", "blue"):
        image = InputImage("photo.png", png(color), "image/png")
        record = await service.start(
            ask("as a watercolor --steps 2", workflow="sd15_img2img", images=[image])
        )
        assert (await service.wait(record.id)).state is JobState.COMPLETED
        names.append(double.prompts_received[-1]["prompt"]["10"]["inputs"]["image"])

    assert names[0] == "photo.png"
    assert names[1] != "photo.png" and names[1].startswith("photo")
    assert double.uploaded[names[1]] == png("blue")


async def test_a_non_image_attachment_is_named_and_nothing_is_queued_or_stored(
    double: ComfyDouble, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    service = await make_service([double.url])
    pdf = InputImage("notes.pdf", b"%PDF-1.7 not an image", "application/pdf")

    with pytest.raises(NotAnImage, match=r"^The attached file 'notes\.pdf' is not an image\.$"):
        await service.start(ask("repaint", workflow="sd15_img2img", images=[pdf]))

    assert prompts_posted(double) == 0 and double.uploaded == {}
    assert store.records == {}


async def test_an_image_for_a_txt2img_workflow_suggests_an_img2img_model(
    double: ComfyDouble, make_service: ServiceFactory
) -> None:
    service = await make_service([double.url])
    with pytest.raises(RequestError, match="choose an image-to-image model"):
        await service.start(ask("a cat", images=[InputImage("cat.png", png("red"))]))
    assert prompts_posted(double) == 0 and double.uploaded == {}


async def test_a_missing_model_is_a_sentence_until_the_admin_installs_it(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    double = await comfy_double_factory(models={"checkpoints": ["other.safetensors"]})
    service = await make_service([double.url])

    with pytest.raises(PromptRejected) as rejected:
        await service.start(ask("a cat --steps 2"))
    assert describe(rejected.value) == f"Model '{SD15}' is not installed on this ComfyUI."
    assert prompts_posted(double) == 0
    assert all(record.state is JobState.FAILED for record in store.records.values())

    double.models["checkpoints"].append(SD15)
    record = await service.start(ask("a cat --steps 2"))
    assert (await service.wait(record.id)).state is JobState.COMPLETED


async def test_comfyui_down_is_a_clear_sentence_without_its_address(
    dead_url: str, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    service = await make_service([dead_url])
    with pytest.raises(ComfyUnreachable) as raised:
        async with asyncio.timeout(5):
            await service.start(ask("a cat"))

    assert describe(raised.value) == "ComfyUI is not reachable right now; try again in a moment."
    assert store.records == {}  # refused before anything was stored
    assert service.running("alice") == 0


async def test_too_many_jobs_for_one_user_but_not_for_another(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await slow_double(comfy_double_factory)
    service = await make_service([double.url], Policy(jobs_per_user=1))
    first = await service.start(ask("a cat --steps 10"))

    with pytest.raises(TooManyJobs, match="You already have 1 generation running") as raised:
        await service.start(ask("a dog --steps 2"))
    assert (raised.value.running, raised.value.limit) == (1, 1)
    other = await service.start(ask("a bird --steps 2", owner="bob"))

    assert (await service.wait(first.id)).state is JobState.COMPLETED
    assert (await service.wait(other.id)).state is JobState.COMPLETED
    again = await service.start(ask("a dog --steps 2"))
    assert (await service.wait(again.id)).state is JobState.COMPLETED


async def test_cancelling_one_job_leaves_another_users_job_completing(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    double = await slow_double(comfy_double_factory)
    service = await make_service([double.url])
    progress = ProgressLog()
    alice = await service.start(ask("a cat --steps 40"), progress)
    bob = await service.start(ask("a dog --steps 4", owner="bob"))
    await progress.wait_sampling()

    cancelled = await service.cancel(alice.id)

    assert cancelled.state is JobState.CANCELLED
    assert cancelled.failure is not None
    assert describe_failure(cancelled.failure) == "The generation was cancelled."
    assert (await service.wait(bob.id)).state is JobState.COMPLETED
    messages = [kind for kind, _ in double.history[cancelled.prompt_id]["status"]["messages"]]
    assert "execution_interrupted" in messages
    assert (await store.get(alice.id)).state is JobState.CANCELLED
    assert await service.cancel(bob.id) == await store.get(bob.id)  # finished: unchanged


async def test_the_chat_stop_cancels_the_job_on_comfyui(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await slow_double(comfy_double_factory)
    service = await make_service([double.url])
    progress = ProgressLog()
    record = await service.start(ask("a cat --steps 40"), progress)

    async def chat_reply() -> None:
        try:
            await service.wait(record.id)
        except asyncio.CancelledError:
            await asyncio.shield(service.cancel(record.id))
            raise

    reply = asyncio.create_task(chat_reply())
    await progress.wait_sampling()
    reply.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reply

    stopped = await service.wait(record.id)
    assert stopped.state is JobState.CANCELLED
    await double.wait_idle()
    messages = [kind for kind, _ in double.history[stopped.prompt_id]["status"]["messages"]]
    assert "execution_interrupted" in messages


async def test_another_worker_cancels_a_job_by_its_prompt_id(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    double = await slow_double(comfy_double_factory)
    worker_a = await make_service([double.url])
    worker_b = await make_service([double.url])
    progress = ProgressLog()
    record = await worker_a.start(ask("a cat --steps 40"), progress)
    await progress.wait_sampling()

    elsewhere = await worker_b.cancel(record.id)

    assert elsewhere.state is JobState.CANCELLED
    assert (await worker_a.wait(record.id)).state is JobState.CANCELLED
    await double.wait_idle()


async def test_another_worker_cancels_a_job_pending_on_comfyui_without_waiting_it_out(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    double = await slow_double(comfy_double_factory)
    worker_a = await make_service([double.url], Policy(jobs_per_user=4))
    worker_b = await make_service([double.url])
    progress = ProgressLog()
    running = await worker_a.start(ask("a cat --steps 30"), progress)
    pending = await worker_a.start(ask("a dog --steps 2"))
    await progress.wait_sampling()
    async with asyncio.timeout(5):
        while len(double.prompts_received) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    asked = time.monotonic()
    elsewhere = await worker_b.cancel(pending.id)
    took = time.monotonic() - asked

    assert elsewhere.state is JobState.CANCELLED
    assert (await worker_a.wait(pending.id)).state is JobState.CANCELLED
    # its owner sees it leave ComfyUI's queue: not the cancel's timeout (5 s here)
    assert took < 2.5
    assert (await worker_a.wait(running.id)).state is JobState.COMPLETED


async def test_a_failing_node_and_a_failing_store_end_as_failed_jobs(
    double: ComfyDouble, make_service: ServiceFactory, sink: FolderSink
) -> None:
    service = await make_service([double.url])
    double.faults.error_on_node["KSampler"] = ("torch.OutOfMemoryError", "CUDA out of memory")
    failed = await service.wait((await service.start(ask("a cat --steps 2"))).id)
    assert failed.state is JobState.FAILED and failed.failure is not None
    assert "ComfyUI ran out of memory" in describe_failure(failed.failure)

    double.faults.error_on_node.clear()
    sink.failure = OSError("disk full")
    unsaved = await service.wait((await service.start(ask("a cat --steps 2"))).id)
    assert unsaved.state is JobState.FAILED and unsaved.failure is not None
    assert unsaved.failure.kind is FailureKind.OUTPUT_NOT_STORED
    assert (
        describe_failure(unsaved.failure)
        == "The generated file 'sd15_00001_.png' could not be stored."
    )


async def test_closing_the_service_cancels_its_jobs_on_comfyui_when_the_admin_says_so(
    comfy_double_factory, store: MemoryJobStore, make_service: ServiceFactory
) -> None:
    double = await slow_double(comfy_double_factory)
    service = await make_service([double.url], Policy(cancel_on_shutdown=True))
    progress = ProgressLog()
    record = await service.start(ask("a cat --steps 40"), progress)
    await progress.wait_sampling()

    await service.aclose()

    saved = await store.get(record.id)
    assert saved.state is JobState.CANCELLED
    await double.wait_idle()
    assert double.history[saved.prompt_id]["status"]["status_str"] != "success"


async def test_an_unknown_workflow_is_refused(
    double: ComfyDouble, make_service: ServiceFactory
) -> None:
    service = await make_service([double.url])
    with pytest.raises(UnknownWorkflow, match="There is no workflow 'nope'") as raised:
        await service.start(ask("a cat", workflow="nope"))
    assert raised.value.workflow_id == "nope"


async def test_the_records_a_caller_holds_never_change(
    double: ComfyDouble, make_service: ServiceFactory
) -> None:
    service = await make_service([double.url])
    started = await service.start(ask("a cat --steps 3"))
    kept = copy.deepcopy(started)

    done = await service.wait(started.id)

    assert done.state is JobState.COMPLETED and done.output_file_ids
    assert started == kept and started.state is JobState.QUEUED
    assert started.prompt_id is None and started.output_file_ids == []


async def test_a_job_over_its_deadline_is_given_up_and_cancelled_on_comfyui(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await slow_double(comfy_double_factory)
    service = await make_service([double.url], Policy(job_timeout=1.0, jobs_per_user=2))
    slow = await service.start(ask("a cat --steps 80"))
    waiting = await service.start(ask("a dog --steps 80"))

    ended = [await service.wait(slow.id), await service.wait(waiting.id)]
    await double.wait_idle()

    assert [record.state for record in ended] == [JobState.FAILED] * 2
    assert {record.failure for record in ended if record.failure} == {
        Failure(FailureKind.TIMED_OUT, seconds=1.0)
    }
    assert describe_failure(ended[0].failure or Failure(FailureKind.UNEXPECTED)) == (
        "ComfyUI did not finish within 1 s; the job was given up."
    )
    assert (await ComfyClient(double.url).queue()).total == 0


async def test_a_server_gone_for_good_fails_the_job_by_its_deadline(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.2)
    service = await make_service([double.url], Policy(job_timeout=2.0))
    progress = ProgressLog()
    record = await service.start(ask("a cat --steps 50"), progress)
    await progress.wait_sampling()

    await double.__aexit__(None, None, None)
    async with asyncio.timeout(5):
        ended = await service.wait(record.id)

    assert ended.failure == Failure(FailureKind.UNREACHABLE)
    assert describe_failure(ended.failure) == (
        "ComfyUI is not reachable right now; try again in a moment."
    )
