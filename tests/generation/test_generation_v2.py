"""The engine with Comfy API v2 servers: the real ``comfy-api-proxy`` (from PyPI) in front
of ComfyUI doubles, as ``comfy-v2+`` entries of the pool — alone, and beside a native
server in one fair queue; Stop; input images; the server's own refusal as the job's
failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from comfy_v2.proxy import ApiProxy
from comfyui_double import ComfyDouble
from conftest import MODELS, FolderSink, ServiceFactory
from test_generation_service import ProgressLog, ask, png

from comfyui_pipe.comfy import ProblemKind
from comfyui_pipe.generation import FailureKind, InputImage, JobState, Policy

PNG = b"\x89PNG\r\n\x1a\n"
DoubleFactory = Callable[..., Awaitable[ComfyDouble]]


@pytest.fixture
async def behind_proxy(
    comfy_double_factory: DoubleFactory,
) -> AsyncIterator[Callable[..., Awaitable[tuple[ComfyDouble, ApiProxy]]]]:
    proxies: list[ApiProxy] = []

    async def start(**options: object) -> tuple[ComfyDouble, ApiProxy]:
        options.setdefault("models", MODELS)
        double = await comfy_double_factory(version="0.33", **options)
        proxy = await ApiProxy(double.url).__aenter__()
        proxies.append(proxy)
        return double, proxy

    yield start
    for proxy in proxies:
        await proxy.__aexit__(None, None, None)


async def test_a_job_on_a_v2_server_shows_its_progress_and_stores_its_image(
    behind_proxy, make_service: ServiceFactory, sink: FolderSink
) -> None:
    double, proxy = await behind_proxy(step_seconds=0.2)  # the proxy sends 2 events a second
    service = await make_service([proxy.entry])
    progress = ProgressLog()

    record = await service.start(ask("a lighthouse --steps 15"), progress)
    done = await service.wait(record.id)

    assert done.state is JobState.COMPLETED, done.failure
    assert done.backend == proxy.entry and done.prompt_id != record.id
    steps = [snapshot.step for snapshot in progress.snapshots if snapshot.step]
    assert steps and steps == sorted(steps)
    assert any(snapshot.preview is not None for snapshot in progress.snapshots)
    [saved] = sink.saved
    assert saved.path.read_bytes().startswith(PNG) and saved.stored.content_type == "image/png"
    assert len(double.prompts_received) == 1


async def test_a_native_and_a_v2_server_share_one_fair_queue(
    comfy_double_factory: DoubleFactory, behind_proxy, make_service: ServiceFactory
) -> None:
    native = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    v2_double, proxy = await behind_proxy(step_seconds=0.05)
    service = await make_service([native.url, proxy.entry], Policy(jobs_per_user=4, server_depth=1))

    records = await asyncio.gather(
        *(
            service.start(ask(f"cat {n} --steps 8", owner=owner))
            for n in range(3)
            for owner in ("ann", "bob")
        )
    )
    done = [await service.wait(record.id) for record in records]

    assert all(record.state is JobState.COMPLETED for record in done), [r.failure for r in done]
    on = {
        url: sum(1 for record in done if record.backend == url) for url in (native.url, proxy.entry)
    }
    assert on[native.url] >= 1 and on[proxy.entry] >= 1 and sum(on.values()) == 6
    assert len(native.prompts_received) == on[native.url]
    assert len(v2_double.prompts_received) == on[proxy.entry]


async def test_stop_cancels_the_job_on_the_v2_server(
    behind_proxy, make_service: ServiceFactory
) -> None:
    double, proxy = await behind_proxy(step_seconds=0.2)
    service = await make_service([proxy.entry])
    progress = ProgressLog()
    record = await service.start(ask("a slow cat --steps 60"), progress)
    await progress.wait_sampling()

    cancelled = await service.cancel(record.id)

    assert cancelled.state is JobState.CANCELLED
    await double.wait_idle(timeout=10)
    assert double.history[cancelled.prompt_id or ""]["status"]["status_str"] == "error"


async def test_an_input_image_goes_to_the_v2_server_as_an_asset(
    behind_proxy, make_service: ServiceFactory
) -> None:
    double, proxy = await behind_proxy()
    service = await make_service([proxy.entry])
    image = png("olive")

    record = await service.start(
        ask(
            "make it autumn",
            workflow="sd15_img2img",
            images=[InputImage("leaf.png", image, "image/png")],
        )
    )
    done = await service.wait(record.id)

    assert done.state is JobState.COMPLETED, done.failure
    [graph] = [body["prompt"] for body in double.prompts_received]
    [loaded] = [n["inputs"]["image"] for n in graph.values() if n["class_type"] == "LoadImage"]
    assert double.uploaded[loaded] == image
    assert str(record.prompt).count("comfy-v2-asset:") == 1  # stored as the asset's name


async def test_what_the_v2_server_refuses_fails_the_job_in_its_words(
    behind_proxy, make_service: ServiceFactory
) -> None:
    double, proxy = await behind_proxy(models={"checkpoints": ["other.safetensors"]})
    service = await make_service([proxy.entry])

    record = await service.start(ask("a cat --steps 2"))  # nothing checked here: no schemas
    done = await service.wait(record.id)

    assert done.state is JobState.FAILED and done.failure is not None
    assert done.failure.kind is FailureKind.REJECTED
    [problem] = done.failure.problems
    assert problem.kind is ProblemKind.MODEL_NOT_INSTALLED
    assert problem.value == "v1-5-pruned-emaonly-fp16.safetensors"
    assert not double.history  # refused before it was queued
