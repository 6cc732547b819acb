"""Jobs on a ComfyUI double: many at once, dropped sockets, restarts, cancel, errors, deadlines."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from comfyui_double import ComfyDouble

from comfyui_pipe.comfy.errors import (
    ComfyUnreachable,
    ExecutionFailed,
    JobInterrupted,
    JobLost,
    JobTimedOut,
)
from comfyui_pipe.comfy.events import ExecutionError, Progress
from comfyui_pipe.comfy.server import ComfyServer, Job, JobTimeouts
from comfyui_pipe.progress import ProgressTracker

WORKFLOWS = Path(__file__).parent.parent / "fixtures" / "traces" / "workflows"
CHECKPOINT = "sdrand15.safetensors"
MODELS = {"checkpoints": [CHECKPOINT]}
FAST = JobTimeouts(total=20, connect=2, history=2, cancel=2)


def txt2img(seed: int, steps: int = 4) -> dict[str, Any]:
    graph = json.loads((WORKFLOWS / "e_txt2img_sdrand.json").read_text())
    graph["3"]["inputs"].update(seed=seed, steps=steps)
    graph["5"]["inputs"].update(width=64, height=64)
    graph["9"]["inputs"]["filename_prefix"] = f"job{seed}"
    return graph


@pytest.fixture
async def double() -> AsyncIterator[ComfyDouble]:
    async with ComfyDouble(step_seconds=0.01, models=MODELS) as running:
        yield running


def comfy(double: ComfyDouble, **options: Any) -> ComfyServer:
    options = {"timeouts": FAST, "backoff": (0.02, 0.2), **options}
    return ComfyServer(double.url, **options)


async def percents(job: Job, prompt: dict[str, Any]) -> list[float]:
    """The progress a user would see, as the job's events are turned into it."""
    tracker = ProgressTracker(prompt)
    seen = []
    async for update in job.events():
        tracker.feed(update)
        seen.append(tracker.snapshot().percent)
    return seen


async def until_sampling(job: Job) -> None:
    async with asyncio.timeout(5):
        async for update in job.events():
            if isinstance(update, Progress) and update.value:
                return
    raise AssertionError("the job never started sampling")


async def test_fifty_jobs_share_one_socket_and_get_their_own_outputs(double: ComfyDouble) -> None:
    async with comfy(double) as server:
        prompts = [txt2img(seed) for seed in range(50)]
        jobs = await asyncio.gather(*(server.submit(prompt) for prompt in prompts))
        progress = await asyncio.gather(
            *(percents(job, prompt) for job, prompt in zip(jobs, prompts, strict=True))
        )
        results = await asyncio.gather(*(job.result() for job in jobs))

    assert double.ws_connections == 1
    for seed, (job, result, seen) in enumerate(zip(jobs, results, progress, strict=True)):
        assert result.prompt_id == job.prompt_id
        assert [ref.filename.split("_")[0] for ref in result.outputs] == [f"job{seed}"]
        assert seen == sorted(seen)
        assert seen[-1] == 100.0
    assert len({ref.filename for result in results for ref in result.outputs}) == 50


async def test_a_dropped_socket_mid_job_still_delivers_the_outputs() -> None:
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double) as server,
    ):
        job = await server.submit(txt2img(seed=1, steps=10))
        await until_sampling(job)
        double.faults.drop_sockets()
        result = await job.result()

    assert [ref.filename.split("_")[0] for ref in result.outputs] == ["job1"]
    assert server.stream.connections == 2


async def test_a_job_that_finished_while_the_socket_was_down_is_read_from_history() -> None:
    async with (
        ComfyDouble(step_seconds=0.01, models=MODELS) as double,
        comfy(double, backoff=(1.0, 1.0)) as server,
    ):
        job = await server.submit(txt2img(seed=2))
        await until_sampling(job)
        double.faults.drop_sockets()
        await double.wait_idle()
        assert server.stream.connections == 1  # it finished with nobody listening
        result = await job.result()

    assert [ref.filename.split("_")[0] for ref in result.outputs] == ["job2"]


async def test_a_restarted_server_fails_the_job_as_lost_quickly() -> None:
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double) as server,
    ):
        job = await server.submit(txt2img(seed=3, steps=20))
        await until_sampling(job)
        await double.restart()
        async with asyncio.timeout(3):
            with pytest.raises(JobLost) as lost:
                await job.result()

    assert str(lost.value) == "ComfyUI restarted and lost this job."


async def test_the_watchdog_recovers_a_socket_that_hears_nothing() -> None:
    async with (
        ComfyDouble(step_seconds=0.01, models=MODELS) as double,
        comfy(double, silence_timeout=0.3) as server,
    ):
        double.faults.unregister_reconnected = True
        await server.stream.wait_connected(2)
        double.faults.silent = True
        job = await server.submit(txt2img(seed=4))
        result = await job.result()

    assert [ref.filename.split("_")[0] for ref in result.outputs] == ["job4"]
    assert server.stream.connections >= 2


async def test_a_reconnect_with_the_unregister_bug_keeps_the_socket_alive() -> None:
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double, silence_timeout=0.5) as server,
    ):
        double.faults.unregister_reconnected = True
        job = await server.submit(txt2img(seed=5, steps=10))
        await until_sampling(job)
        double.faults.drop_sockets()
        result = await job.result()
        later = await server.submit(txt2img(seed=6))
        await later.result()

    assert [ref.filename.split("_")[0] for ref in result.outputs] == ["job5"]


async def test_a_server_gone_for_good_fails_the_job_by_its_deadline() -> None:
    timeouts = JobTimeouts(total=1.0, connect=0.5, history=0.5, cancel=0.5)
    double = ComfyDouble(step_seconds=0.2, models=MODELS)
    async with comfy(await double.__aenter__(), timeouts=timeouts) as server:
        job = await server.submit(txt2img(seed=7, steps=50))
        await double.__aexit__(None, None, None)
        async with asyncio.timeout(3):
            with pytest.raises(ComfyUnreachable):
                await job.result()


@pytest.mark.parametrize("jobs_api", [True, False], ids=["jobs-api", "no-jobs-api"])
@pytest.mark.parametrize("cancelled", ["pending", "running"])
async def test_cancelling_one_job_leaves_the_other_untouched(
    jobs_api: bool, cancelled: str
) -> None:
    async with (
        ComfyDouble(step_seconds=0.02, models=MODELS, jobs_api=jobs_api) as double,
        comfy(double) as server,
    ):
        running = await server.submit(txt2img(seed=10, steps=15))
        pending = await server.submit(txt2img(seed=11, steps=2))
        await until_sampling(running)
        victim, survivor = (pending, running) if cancelled == "pending" else (running, pending)
        await victim.cancel()
        with pytest.raises(JobInterrupted):
            await victim.result()
        result = await survivor.result()
        await double.wait_idle()
        queue = await server.client.queue()

    seed = 10 if survivor is running else 11
    assert [ref.filename.split("_")[0] for ref in result.outputs] == [f"job{seed}"]
    assert queue.total == 0


async def test_cancelling_a_finished_job_changes_nothing(double: ComfyDouble) -> None:
    async with comfy(double) as server:
        job = await server.submit(txt2img(seed=12))
        result = await job.result()
        await job.cancel()
        assert await job.result() == result


async def test_a_node_running_out_of_memory_fails_with_a_readable_message(
    double: ComfyDouble,
) -> None:
    double.faults.error_on_node["KSampler"] = (
        "torch.OutOfMemoryError",
        "CUDA out of memory. Tried to allocate 2.00 GiB",
    )
    async with comfy(double) as server:
        job = await server.submit(txt2img(seed=13))
        with pytest.raises(ExecutionFailed) as failed:
            await job.result()
        updates = [update async for update in job.events()]

    assert failed.value.node_id == "3"
    assert "ran out of memory in KSampler (node 3)" in str(failed.value)
    assert [u.node_id for u in updates if isinstance(u, ExecutionError)] == ["3"]


async def test_a_job_over_its_deadline_is_cancelled_on_the_server() -> None:
    timeouts = JobTimeouts(total=0.3, connect=2, history=1, cancel=2)
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double, timeouts=timeouts) as server,
    ):
        slow = await server.submit(txt2img(seed=14, steps=100))
        waiting = await server.submit(txt2img(seed=15, steps=100))
        for job in (slow, waiting):
            with pytest.raises(JobTimedOut):
                await job.result()
        await double.wait_idle()
        queue = await server.client.queue()

    assert queue.total == 0


def history_reads(double: ComfyDouble) -> int:
    return sum(1 for r in double.requests if r.method == "GET" and r.path.startswith("/history/"))


def saved_twice(graph: dict[str, Any], image: list[Any], name: str) -> dict[str, Any]:
    """``graph`` saving ``image`` with SaveImage "10" and SaveImage "2" (ids out of order
    on purpose)."""
    for node_id in ("10", "2"):
        prefix = f"{name}{node_id}"
        graph[node_id] = {
            "class_type": "SaveImage",
            "inputs": {"images": image, "filename_prefix": prefix},
        }
    return graph


async def test_a_job_heard_from_start_to_end_takes_its_outputs_from_its_events(
    double: ComfyDouble,
) -> None:
    async with comfy(double) as server:
        size = {"width": 32, "height": 32, "batch_size": 1, "color": 255}
        graph = {"1": {"class_type": "EmptyImage", "inputs": size}}
        job = await server.submit(saved_twice(graph, ["1", 0], "red"))
        result = await job.result()

    assert history_reads(double) == 0
    assert [(ref.node_id, ref.filename.split("_")[0]) for ref in result.outputs] == [
        ("2", "red2"),
        ("10", "red10"),
    ]


async def test_a_job_whose_socket_dropped_reads_history_and_lists_its_outputs_alike() -> None:
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double) as server,
    ):
        graph = txt2img(seed=3, steps=10)
        del graph["9"]
        job = await server.submit(saved_twice(graph, ["8", 0], "fox"))
        await until_sampling(job)
        double.faults.drop_sockets()
        result = await job.result()

    assert history_reads(double) >= 1  # the events of the drop may be lost: history says
    assert [ref.node_id for ref in result.outputs] == ["2", "10"]


async def test_a_pending_job_someone_else_deletes_from_the_queue_ends_as_cancelled() -> None:
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double) as server,
        httpx.AsyncClient(base_url=double.url) as someone_else,
    ):
        running = await server.submit(txt2img(seed=4, steps=30))
        pending = await server.submit(txt2img(seed=5))
        await until_sampling(running)

        deleted_at = time.monotonic()
        await someone_else.post("/queue", json={"delete": [pending.prompt_id]})
        with pytest.raises(JobInterrupted):
            await pending.result()
        noticed_after = time.monotonic() - deleted_at
        assert not running.done

    assert noticed_after < 2.0  # the next look at the queue, not the job's deadline
