"""A real ComfyUI 0.33 behind the real ``comfy-api-proxy`` (PyPI), as a ``comfy-v2+``
backend: a small SD 1.5 generation shows its sampler steps and live previews and gives
its PNG; Stop interrupts it on the real server; a submit whose answer was lost runs once
on the real server; an input image goes up as an asset and into the real server's input
folder. Graphs are 64×64 with random weights: the protocol
and the plumbing are proved, not the pictures."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from comfyui_real import RealComfyUI
from job_updates import Updates
from openwebui.real_comfyui import REAL_TIMEOUT, sd15_graph
from PIL import Image

from comfy_v2.proxy import AnswerDropper, ApiProxy
from comfyui_pipe.comfy import (
    Backend,
    Credentials,
    Ending,
    JobTimeouts,
    JobUpdate,
    open_backend,
)
from comfyui_pipe.comfy.events import Preview, Progress

pytestmark = pytest.mark.real_comfyui

TIMEOUTS = JobTimeouts(connect=10, history=30, cancel=60)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def real_v2(real_comfyui: RealComfyUI) -> AsyncIterator[Backend]:
    """The real server through the proxy; it is left idle."""
    async with ApiProxy(real_comfyui.url) as proxy:
        backend = open_backend(proxy.entry, Credentials({}), TIMEOUTS)
        async with backend:
            yield backend
    await asyncio.to_thread(real_comfyui.wait_idle, REAL_TIMEOUT)


async def test_a_real_generation_shows_steps_and_previews_then_gives_its_png(
    real_v2: Backend,
) -> None:
    updates = Updates()

    job = await real_v2.submit(sd15_graph("a red kite", steps=3, seed=5), listener=updates)
    async with asyncio.timeout(REAL_TIMEOUT):
        outcome = await job.outcome()

    assert outcome.ending is Ending.SUCCEEDED, outcome
    steps = [update.value for update in updates.of(Progress)]  # type: ignore[attr-defined]
    assert steps and steps == sorted(steps) and max(steps) <= 3
    assert updates.of(Preview)
    [output] = outcome.outputs
    async with real_v2.stream_output(output) as chunks:
        image = b"".join([chunk async for chunk in chunks])
    assert image.startswith(PNG)
    assert Image.open(io.BytesIO(image)).size == (64, 64)


async def test_stop_interrupts_the_real_run(real_v2: Backend, real_comfyui: RealComfyUI) -> None:
    sampling = asyncio.Event()

    def listener(update: JobUpdate) -> None:
        if isinstance(update, Progress):
            sampling.set()

    job = await real_v2.submit(sd15_graph("a slow kite", steps=40, seed=6), listener=listener)
    async with asyncio.timeout(REAL_TIMEOUT):
        await sampling.wait()

    await job.cancel()

    assert (await job.outcome()).ending is Ending.INTERRUPTED
    await asyncio.to_thread(real_comfyui.wait_idle, 60)


async def test_a_submit_whose_answer_was_lost_runs_once_on_the_real_server(
    real_comfyui: RealComfyUI,
) -> None:
    runs_before = len(await asyncio.to_thread(real_comfyui.get, "/history"))
    async with ApiProxy(real_comfyui.url) as proxy, AnswerDropper(proxy.port) as dropper:
        backend = open_backend("comfy-v2+" + dropper.url, Credentials({}), TIMEOUTS)
        async with backend:
            dropper.drop_next_submit()
            job = await backend.submit(sd15_graph("a kite once", steps=1, seed=7))
            async with asyncio.timeout(REAL_TIMEOUT):
                outcome = await job.outcome()
    await asyncio.sleep(1)

    assert dropper.dropped == 1
    assert outcome.ending is Ending.SUCCEEDED, outcome
    history = await asyncio.to_thread(real_comfyui.get, "/history")
    assert len(history) == runs_before + 1  # the retry found the run the first try made


async def test_an_input_image_goes_up_as_an_asset_into_the_real_input_folder(
    real_v2: Backend, real_comfyui: RealComfyUI
) -> None:
    encoded = io.BytesIO()
    Image.new("RGB", (24, 24), "purple").save(encoded, format="PNG")
    sent = encoded.getvalue()

    reference = await real_v2.upload_image(sent, "purple.png")
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": reference}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "in"}},
    }
    job = await real_v2.submit(graph)
    async with asyncio.timeout(REAL_TIMEOUT):
        outcome = await job.outcome()

    assert outcome.ending is Ending.SUCCEEDED, outcome
    stored = [path.read_bytes() for path in (real_comfyui.run_dir / "input").rglob("*.png")]
    assert sent in stored
    [output] = outcome.outputs
    async with real_v2.stream_output(output) as chunks:
        image = b"".join([chunk async for chunk in chunks])
    assert Image.open(io.BytesIO(image)).size == (24, 24)
