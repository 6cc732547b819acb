"""A Comfy API v2 server as a backend: the real ``comfy-api-proxy`` (from PyPI) in front of
the ComfyUI double, driven through ``open_backend`` with a ``comfy-v2+`` entry and the
proxy's API key — progress and previews, Stop, a submit whose answer was lost that runs
once, an input image sent as an asset, the server's refusal in its own words."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from comfyui_double import ComfyDouble
from comfyui_double.graphs import empty_image_prompt, txt2img_prompt
from default_models import DEFAULT_MODELS
from job_updates import Updates
from PIL import Image

from comfy_v2.proxy import AnswerDropper, ApiProxy
from comfyui_pipe.comfy import (
    Backend,
    ComfyHTTPError,
    Credentials,
    Ending,
    JobTimeouts,
    PromptRejected,
    QueuePosition,
    open_backend,
)
from comfyui_pipe.comfy.events import Executing, ExecutionStart, Preview, Progress

TOKEN = "proxy-secret"
TIMEOUTS = JobTimeouts(connect=5, history=5, cancel=10)
PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"


@pytest.fixture
async def double() -> AsyncIterator[ComfyDouble]:
    async with ComfyDouble(models=DEFAULT_MODELS, version="0.33", step_seconds=0.05) as d:
        yield d


@pytest.fixture
async def proxy(double: ComfyDouble) -> AsyncIterator[ApiProxy]:
    async with ApiProxy(double.url, token=TOKEN) as running:
        yield running


async def opened(entry: str, api_key: str | None = TOKEN) -> Backend:
    backend = open_backend(entry, Credentials({}, api_key=api_key), TIMEOUTS)
    return await backend.__aenter__()


@pytest.fixture
async def server(proxy: ApiProxy) -> AsyncIterator[Backend]:
    backend = await opened(proxy.entry)
    yield backend
    await backend.__aexit__(None, None, None)


def png(color: str) -> bytes:
    encoded = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(encoded, format="PNG")
    return encoded.getvalue()


def load_and_save(image: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "in"}},
    }


async def test_a_generation_shows_its_steps_and_previews_then_gives_its_image(
    server: Backend, double: ComfyDouble
) -> None:
    double.step_seconds = 0.2  # the proxy sends at most two progress events a second
    updates = Updates()

    job = await server.submit(txt2img_prompt(steps=15), listener=updates)
    outcome = await job.outcome()

    assert outcome.ending is Ending.SUCCEEDED, outcome
    assert updates.of(ExecutionStart) and updates.of(Executing)
    steps = [update.value for update in updates.of(Progress)]
    assert len(steps) >= 2 and steps == sorted(steps) and steps[-1] <= 15
    previews = updates.of(Preview)
    assert previews and all(p.image.startswith(JPEG) for p in previews)  # type: ignore[attr-defined]
    [output] = outcome.outputs
    async with server.stream_output(output) as chunks:
        stored = b"".join([chunk async for chunk in chunks])
    assert stored.startswith(PNG) and output.content_type == "image/png"
    assert len(double.prompts_received) == 1


async def test_a_job_waiting_in_the_servers_queue_is_told_its_place(
    server: Backend, double: ComfyDouble
) -> None:
    double.step_seconds = 0.2
    first = await server.submit(txt2img_prompt(steps=10, seed=1))
    updates = Updates()
    second = await server.submit(txt2img_prompt(steps=2, seed=2), listener=updates)

    place = await updates.first(lambda update: isinstance(update, QueuePosition))

    assert isinstance(place, QueuePosition) and place.position == 1
    assert (await first.outcome()).ending is Ending.SUCCEEDED
    assert (await second.outcome()).ending is Ending.SUCCEEDED


async def test_stop_cancels_exactly_the_running_job(server: Backend, double: ComfyDouble) -> None:
    double.step_seconds = 0.2
    updates = Updates()
    running = await server.submit(txt2img_prompt(steps=50, seed=1), listener=updates)
    waiting = await server.submit(txt2img_prompt(steps=2, seed=2))
    await updates.first(lambda update: isinstance(update, Progress))

    await running.cancel()

    assert (await running.outcome()).ending is Ending.INTERRUPTED
    assert (await waiting.outcome()).ending is Ending.SUCCEEDED
    assert len(double.prompts_received) == 2


async def test_a_submit_whose_answer_was_lost_runs_once(
    proxy: ApiProxy, double: ComfyDouble
) -> None:
    async with AnswerDropper(proxy.port) as dropper:
        backend = await opened("comfy-v2+" + dropper.url)
        try:
            dropper.drop_next_submit()
            job = await backend.submit(empty_image_prompt("once"))
            outcome = await job.outcome()
        finally:
            await backend.__aexit__(None, None, None)

    assert dropper.dropped == 1
    assert outcome.ending is Ending.SUCCEEDED
    assert len(double.prompts_received) == 1  # the retry found the job the first try made
    await asyncio.sleep(1)
    assert len(double.prompts_received) == 1


async def test_an_input_image_goes_up_as_an_asset(server: Backend, double: ComfyDouble) -> None:
    image = png("teal")

    reference = await server.upload_image(image, "holiday photo.png")
    job = await server.submit(load_and_save(reference))
    outcome = await job.outcome()

    assert outcome.ending is Ending.SUCCEEDED
    [graph] = [body["prompt"] for body in double.prompts_received]
    loaded = graph["1"]["inputs"]["image"]
    assert isinstance(loaded, str) and double.uploaded[loaded] == image


async def test_the_servers_refusal_is_a_rejection_in_its_words(server: Backend) -> None:
    graph = {"1": {"class_type": "NoSuchNode", "inputs": {}}}

    with pytest.raises(PromptRejected) as refused:
        await server.submit(graph)

    assert "NoSuchNode" in " ".join(problem.detail for problem in refused.value.problems)


async def test_without_the_api_key_the_server_is_not_used(proxy: ApiProxy) -> None:
    backend = await opened(proxy.entry, api_key=None)
    try:
        with pytest.raises(ComfyHTTPError) as refused:
            await backend.submit(empty_image_prompt("nokey"))
    finally:
        await backend.__aexit__(None, None, None)

    assert refused.value.status == 401


async def test_the_api_key_goes_to_v2_servers_only(double: ComfyDouble) -> None:
    native = await opened(double.url)  # the same credentials, a native entry
    try:
        job = await native.submit(empty_image_prompt("native"))
        assert (await job.outcome()).ending is Ending.SUCCEEDED
    finally:
        await native.__aexit__(None, None, None)

    sent = {name.lower() for request in double.requests for name in request.headers}
    assert double.requests and not {"authorization", "x-api-key"} & sent


async def test_a_waiting_job_outlives_a_v2_server_that_stops_answering_for_a_while(
    proxy: ApiProxy, server: Backend, double: ComfyDouble
) -> None:
    double.step_seconds = 0.1
    running = await server.submit(txt2img_prompt(steps=30, seed=1))
    waiting = await server.submit(txt2img_prompt(steps=2, seed=2))

    await asyncio.to_thread(proxy.stop)
    await asyncio.sleep(1.5)
    waiting.lose()  # what the dispatcher does when the server does not answer
    await asyncio.sleep(0.5)
    assert not server.connected
    proxy.start()  # the same address, a fresh process: ComfyUI still has both
    await asyncio.to_thread(proxy.wait_ready)

    assert (await running.outcome()).ending is Ending.SUCCEEDED
    assert (await waiting.outcome()).ending is Ending.SUCCEEDED
    assert len(double.prompts_received) == 2  # nothing sent twice
