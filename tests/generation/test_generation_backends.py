"""Several backends: sharing jobs, skipping one that is down, health, reconfiguring."""

from __future__ import annotations

import asyncio

from comfyui_double import ComfyDouble
from conftest import FAST, MODELS, FolderSink, MemoryJobStore, ServiceFactory
from test_generation_service import ProgressLog

from comfyui_pipe.comfy import ComfyUnreachable
from comfyui_pipe.generation import (
    BackendPool,
    GenerationRequest,
    GenerationService,
    JobState,
    Policy,
    parse_message,
)
from comfyui_pipe.workflow import bundled_workflows


def ask(message: str, owner: str = "alice") -> GenerationRequest:
    parsed = parse_message(message)
    return GenerationRequest(owner, "sd15_txt2img", parsed.prompt, parsed.options)


async def test_two_backends_share_the_jobs_and_a_dead_one_is_skipped(
    comfy_double_factory, dead_url: str, make_service: ServiceFactory
) -> None:
    first = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    second = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    service = await make_service([dead_url, first.url, second.url], Policy(jobs_per_user=4))

    records = await asyncio.gather(*(service.start(ask(f"cat {n} --steps 10")) for n in range(4)))
    done = [await service.wait(record.id) for record in records]

    assert all(record.state is JobState.COMPLETED for record in done)
    backends = sorted(record.backend for record in done)
    assert backends == sorted([first.url, first.url, second.url, second.url])
    assert len(first.history) == len(second.history) == 2


async def test_health_reports_each_backend(comfy_double_factory, dead_url: str) -> None:
    double = await comfy_double_factory(models=MODELS)
    async with BackendPool([double.url, dead_url], timeouts=FAST) as pool:
        up, down = await pool.health()

    assert (up.url, up.reachable, up.version) == (double.url, True, "0.8.0")
    assert (up.queue_running, up.queue_pending) == (0, 0) and up.devices
    assert (down.url, down.reachable) == (dead_url, False) and down.error


async def test_reconfiguring_moves_new_jobs_and_lets_old_ones_finish(
    comfy_double_factory, store: MemoryJobStore, sink: FolderSink
) -> None:
    old_double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    new_double: ComfyDouble = await comfy_double_factory(models=MODELS)
    old_pool = BackendPool([old_double.url], timeouts=FAST)
    async with GenerationService(old_pool, bundled_workflows(), store, sink) as service:
        progress = ProgressLog()
        in_flight = await service.start(ask("a cat --steps 20"), progress)
        await progress.wait_sampling()

        service.reconfigure(pool=BackendPool([new_double.url], timeouts=FAST))
        moved = await service.start(ask("a dog --steps 2", owner="bob"))

        assert (await service.wait(moved.id)).backend == new_double.url
        finished = await service.wait(in_flight.id)
        assert (finished.state, finished.backend) == (JobState.COMPLETED, old_double.url)
        async with asyncio.timeout(5):
            while True:  # the old pool closes once its last job has ended
                try:
                    await old_pool.pick()
                except ComfyUnreachable:
                    break
                await asyncio.sleep(0.01)
