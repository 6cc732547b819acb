"""Jobs on a ComfyUI double: many at once, dropped sockets, restarts, cancel, errors."""

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
from job_updates import Updates

from comfyui_pipe.comfy import Ending, JobUpdate
from comfyui_pipe.comfy.events import ExecutionError, Progress
from comfyui_pipe.comfy.server import ComfyServer, Job, JobTimeouts
from comfyui_pipe.openwebui.presenter import describe_node_failure
from comfyui_pipe.progress import ProgressTracker

WORKFLOWS = Path(__file__).parent.parent / "fixtures" / "traces" / "workflows"
CHECKPOINT = "sdrand15.safetensors"
MODELS = {"checkpoints": [CHECKPOINT]}
FAST = JobTimeouts(connect=2, history=2, cancel=2)


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


class Percents:
    """The progress a user would see, as the job's events are turned into it."""

    def __init__(self, prompt: dict[str, Any]) -> None:
        self.tracker = ProgressTracker(prompt)
        self.seen: list[float] = []

    def __call__(self, update: JobUpdate) -> None:
        self.tracker.feed(update)
        self.seen.append(self.tracker.snapshot().percent)


async def submitted(server: ComfyServer, prompt: dict[str, Any]) -> tuple[Job, Updates]:
    updates = Updates()
    return await server.submit(prompt, listener=updates), updates


async def until_sampling(updates: Updates) -> None:
    await updates.first(lambda update: isinstance(update, Progress) and bool(update.value))


async def test_fifty_jobs_share_one_socket_and_get_their_own_outputs(double: ComfyDouble) -> None:
    async with comfy(double) as server:
        prompts = [txt2img(seed) for seed in range(50)]
        progress = [Percents(prompt) for prompt in prompts]
        jobs = await asyncio.gather(
            *(
                server.submit(prompt, listener=seen)
                for prompt, seen in zip(prompts, progress, strict=True)
            )
        )
        results = await asyncio.gather(*(job.outcome() for job in jobs))

    assert double.ws_connections == 1
    for seed, (job, result, percents) in enumerate(zip(jobs, results, progress, strict=True)):
        assert result.prompt_id == job.prompt_id
        assert [ref.filename.split("_")[0] for ref in result.outputs] == [f"job{seed}"]
        assert percents.seen == sorted(percents.seen)
        assert percents.seen[-1] == 100.0
    assert len({ref.filename for result in results for ref in result.outputs}) == 50


async def test_a_dropped_socket_mid_job_still_delivers_the_outputs() -> None:
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double) as server,
    ):
        job, updates = await submitted(server, txt2img(seed=1, steps=10))
        await until_sampling(updates)
        double.faults.drop_sockets()
        result = await job.outcome()

    assert [ref.filename.split("_")[0] for ref in result.outputs] == ["job1"]
    assert server.stream.connections == 2


async def test_a_job_that_finished_while_the_socket_was_down_is_read_from_history() -> None:
    async with (
        ComfyDouble(step_seconds=0.01, models=MODELS) as double,
        comfy(double, backoff=(1.0, 1.0)) as server,
    ):
        job, updates = await submitted(server, txt2img(seed=2))
        await until_sampling(updates)
        double.faults.drop_sockets()
        await double.wait_idle()
        assert server.stream.connections == 1  # it finished with nobody listening
        result = await job.outcome()

    assert [ref.filename.split("_")[0] for ref in result.outputs] == ["job2"]


async def test_a_restarted_server_fails_the_job_as_lost_quickly() -> None:
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double) as server,
    ):
        job, updates = await submitted(server, txt2img(seed=3, steps=20))
        await until_sampling(updates)
        await double.restart()
        async with asyncio.timeout(3):
            outcome = await job.outcome()

    assert outcome.ending is Ending.LOST


async def test_the_watchdog_recovers_a_socket_that_hears_nothing() -> None:
    async with (
        ComfyDouble(step_seconds=0.01, models=MODELS) as double,
        comfy(double, silence_timeout=0.3) as server,
    ):
        double.faults.unregister_reconnected = True
        await server.stream.wait_connected(2)
        double.faults.silent = True
        job = await server.submit(txt2img(seed=4))
        result = await job.outcome()

    assert [ref.filename.split("_")[0] for ref in result.outputs] == ["job4"]
    assert server.stream.connections >= 2


async def test_a_reconnect_with_the_unregister_bug_keeps_the_socket_alive() -> None:
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double, silence_timeout=0.5) as server,
    ):
        double.faults.unregister_reconnected = True
        job, updates = await submitted(server, txt2img(seed=5, steps=10))
        await until_sampling(updates)
        double.faults.drop_sockets()
        result = await job.outcome()
        later = await server.submit(txt2img(seed=6))
        await later.outcome()

    assert [ref.filename.split("_")[0] for ref in result.outputs] == ["job5"]


@pytest.mark.parametrize("jobs_api", [True, False], ids=["jobs-api", "no-jobs-api"])
@pytest.mark.parametrize("cancelled", ["pending", "running"])
async def test_cancelling_one_job_leaves_the_other_untouched(
    jobs_api: bool, cancelled: str
) -> None:
    async with (
        ComfyDouble(step_seconds=0.02, models=MODELS, jobs_api=jobs_api) as double,
        comfy(double) as server,
    ):
        running, updates = await submitted(server, txt2img(seed=10, steps=15))
        pending = await server.submit(txt2img(seed=11, steps=2))
        await until_sampling(updates)
        victim, survivor = (pending, running) if cancelled == "pending" else (running, pending)
        await victim.cancel()
        assert (await victim.outcome()).ending is Ending.INTERRUPTED
        result = await survivor.outcome()
        await double.wait_idle()
        queue = await server.client.queue()

    seed = 10 if survivor is running else 11
    assert [ref.filename.split("_")[0] for ref in result.outputs] == [f"job{seed}"]
    assert queue.total == 0


async def test_cancelling_a_finished_job_changes_nothing(double: ComfyDouble) -> None:
    async with comfy(double) as server:
        job = await server.submit(txt2img(seed=12))
        result = await job.outcome()
        await job.cancel()
        assert await job.outcome() == result


async def test_a_node_running_out_of_memory_fails_with_a_readable_message(
    double: ComfyDouble,
) -> None:
    double.faults.error_on_node["KSampler"] = (
        "torch.OutOfMemoryError",
        "CUDA out of memory. Tried to allocate 2.00 GiB",
    )
    async with comfy(double) as server:
        job, updates = await submitted(server, txt2img(seed=13))
        outcome = await job.outcome()

    assert outcome.ending is Ending.FAILED
    assert outcome.failure is not None and outcome.failure.node_id == "3"
    assert "ran out of memory in KSampler (node 3)" in describe_node_failure(outcome.failure)
    assert [u.node_id for u in updates.of(ExecutionError)] == ["3"]


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
        result = await job.outcome()

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
        job, updates = await submitted(server, saved_twice(graph, ["8", 0], "fox"))
        await until_sampling(updates)
        double.faults.drop_sockets()
        result = await job.outcome()

    assert history_reads(double) >= 1  # the events of the drop may be lost: history says
    assert [ref.node_id for ref in result.outputs] == ["2", "10"]


async def test_a_pending_job_someone_else_deletes_from_the_queue_ends_as_cancelled() -> None:
    async with (
        ComfyDouble(step_seconds=0.05, models=MODELS) as double,
        comfy(double) as server,
        httpx.AsyncClient(base_url=double.url) as someone_else,
    ):
        running, updates = await submitted(server, txt2img(seed=4, steps=30))
        pending = await server.submit(txt2img(seed=5))
        await until_sampling(updates)

        deleted_at = time.monotonic()
        await someone_else.post("/queue", json={"delete": [pending.prompt_id]})
        assert (await pending.outcome()).ending is Ending.INTERRUPTED
        noticed_after = time.monotonic() - deleted_at
        assert not running.done

    assert noticed_after < 2.0  # the next look at the queue, not the job's deadline
