"""ComfyClient against the ComfyUI test double."""

import asyncio
import io
import json
from pathlib import Path

import pytest
import websockets
from comfyui_double import ComfyDouble
from PIL import Image

from comfyui_pipe.comfy.client import ComfyClient
from comfyui_pipe.comfy.errors import (
    ComfyHTTPError,
    ComfyUnreachable,
    OutputUnavailable,
    PromptRejected,
)
from comfyui_pipe.comfy.outputs import OutputRef, outputs_from_history
from comfyui_pipe.comfy.queue import QueueSnapshot
from comfyui_pipe.openwebui.presenter import describe

WORKFLOWS = Path(__file__).parent.parent / "fixtures" / "traces" / "workflows"
CHECKPOINT = "sd15.safetensors"  # one of the conftest double's models


def _workflow(name: str) -> dict:
    return json.loads((WORKFLOWS / name).read_text())


def _short(color: int) -> dict:
    """A quick job; the colour makes each one distinct (no cache hits)."""
    graph = _workflow("d2_short.json")
    graph["1"]["inputs"]["color"] = color
    return graph


def _long() -> dict:
    """200 sampler steps: about 2 s on the double, always cancelled before the end."""
    graph = _workflow("d2_long_ksampler_200steps.json")
    graph["4"]["inputs"]["ckpt_name"] = CHECKPOINT
    return graph


LONG = _long()


async def _wait_until_running(client: ComfyClient, prompt_id: str) -> None:
    # The double signals no "job started" event; its queue is the only witness.
    async with asyncio.timeout(5):
        while (await client.queue()).position(prompt_id) != 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def _history_when_idle(double: ComfyDouble, client: ComfyClient, prompt_id: str) -> dict:
    await double.wait_idle()
    entry = await client.history(prompt_id)
    assert entry is not None
    return entry


@pytest.fixture
def double(comfy_double):
    return comfy_double


@pytest.fixture
async def client(double):
    async with ComfyClient(double.url) as client:
        yield client


async def test_submit_then_history_then_download_a_real_png(double, client):
    submitted = await client.submit(_workflow("a_emptyimage_save.json"))

    entry = await _history_when_idle(double, client, submitted.prompt_id)
    (ref,) = outputs_from_history(entry)
    buffer = io.BytesIO()
    written = await client.download(ref, buffer)

    assert (ref.kind, ref.content_type) == ("image", "image/png")
    assert written == len(buffer.getvalue()) > 0
    assert Image.open(io.BytesIO(buffer.getvalue())).size == (64, 64)
    (received,) = double.prompts_received
    assert received["client_id"] == client.client_id
    assert received["prompt_id"] == submitted.prompt_id


async def test_download_to_a_path_streams_the_file(double, client, tmp_path):
    submitted = await client.submit(_short(1))
    (ref,) = outputs_from_history(await _history_when_idle(double, client, submitted.prompt_id))

    written = await client.download(ref, tmp_path / "out.png")

    assert written == (tmp_path / "out.png").stat().st_size
    assert Image.open(tmp_path / "out.png").size == (32, 32)


async def test_missing_output_leaves_no_partial_file(client, tmp_path):
    ref = OutputRef("gone_00001_.png", "", "output", "image", "9", "image/png")

    with pytest.raises(OutputUnavailable) as caught:
        await client.download(ref, tmp_path / "gone.png")

    assert caught.value.filename == "gone_00001_.png"

    assert not (tmp_path / "gone.png").exists()


async def test_refs_leaving_the_output_folder_are_refused_before_asking(double, client):
    ref = OutputRef("../secret", "", "output", "image", "9", "image/png")

    with pytest.raises(OutputUnavailable, match="leaves its folder"):
        await client.download(ref, io.BytesIO())

    assert not [r for r in double.requests if r.path == "/view"]


async def test_upload_uses_the_name_the_server_chose(double, client):
    first = await client.upload_image(b"first image", "photo.png")
    second = await client.upload_image(b"other bytes", "photo.png")

    assert first.reference == "photo.png"
    assert second.name != "photo.png"
    assert second.reference == second.name
    assert second.type == "input"


async def test_upload_into_a_subfolder_gives_a_loadimage_reference(client):
    uploaded = await client.upload_image(b"pixels", "mask.png", subfolder="chat42")

    assert uploaded.reference == f"chat42/{uploaded.name}"


async def test_queue_positions_follow_the_order_the_worker_takes(client):
    running = await client.submit(LONG)
    await _wait_until_running(client, running.prompt_id)
    later = [await client.submit(_short(color)) for color in (1, 2, 3)]
    first = await client.submit(_short(4), front=True)

    snapshot = await client.queue()

    assert snapshot.running == [running.prompt_id]
    assert snapshot.pending == [first.prompt_id, *(s.prompt_id for s in later)]
    assert snapshot.position(later[-1].prompt_id) == 4
    assert snapshot.total == 5
    await client.cancel(running.prompt_id)


# v0.33 cancels through the jobs API; v0.8 has jobs but no cancel; v0.3.x has no jobs API
SERVERS = {
    "0.33": {"version": "0.33"},
    "0.8": {"version": "0.8"},
    "0.3": {"version": "0.8", "jobs_api": False},
}


@pytest.mark.parametrize("server", list(SERVERS))
async def test_cancel_of_a_pending_job_leaves_the_others_alone(comfy_double_factory, server):
    double = await comfy_double_factory(**SERVERS[server])
    async with ComfyClient(double.url) as client:
        running = await client.submit(LONG)
        await _wait_until_running(client, running.prompt_id)
        keep = await client.submit(_short(1))
        doomed = await client.submit(_short(2))

        await client.cancel(doomed.prompt_id)

        snapshot = await client.queue()
        assert snapshot.running == [running.prompt_id]
        assert snapshot.pending == [keep.prompt_id]
        assert not [r for r in double.requests if r.path == "/interrupt"]
        await client.cancel(running.prompt_id)
        finished = await _history_when_idle(double, client, keep.prompt_id)
        assert finished["status"]["status_str"] == "success"
        assert await client.history(doomed.prompt_id) is None


@pytest.mark.parametrize("server", list(SERVERS))
async def test_cancel_of_the_running_job_lets_the_next_one_run(comfy_double_factory, server):
    double = await comfy_double_factory(**SERVERS[server])
    async with ComfyClient(double.url) as client:
        running = await client.submit(LONG)
        await _wait_until_running(client, running.prompt_id)
        keep = await client.submit(_short(1))

        await client.cancel(running.prompt_id)

        cancelled = await _history_when_idle(double, client, running.prompt_id)
        finished = await _history_when_idle(double, client, keep.prompt_id)
        assert cancelled["status"]["messages"][-1][0] == "execution_interrupted"
        assert finished["status"]["status_str"] == "success"
        interrupts = [r.json for r in double.requests if r.path == "/interrupt"]
        by_id = [] if server == "0.33" else [{"prompt_id": running.prompt_id}]
        assert interrupts == by_id


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        (
            lambda g: g["4"]["inputs"].update(ckpt_name="missing.safetensors"),
            "Model 'missing.safetensors' is not installed on this ComfyUI.",
        ),
        (lambda g: g["3"]["inputs"].update(steps=0), "Steps 0 is below the minimum 1."),
        (
            lambda g: g["3"].update(class_type="NoSuchSampler"),
            "Node type 'NoSuchSampler' is not installed on this ComfyUI.",
        ),
    ],
)
async def test_rejected_workflows_read_as_sentences(double, client, change, sentence):
    graph = _long()
    change(graph)

    with pytest.raises(PromptRejected) as caught:
        await client.submit(graph)

    assert describe(caught.value) == sentence
    assert await client.queue() == QueueSnapshot(running=[], pending=[])


async def test_server_error_and_timeout_are_typed(double):
    double.faults.failing_routes["/queue"] = 500
    double.faults.slow_routes["/system_stats"] = 0.3
    async with ComfyClient(double.url, timeout=0.05) as client:
        with pytest.raises(ComfyHTTPError) as failed:
            await client.queue()
        with pytest.raises(ComfyUnreachable) as slow:
            await client.system_stats()

    assert failed.value.status == 500
    assert "no answer to GET /system_stats within 0.05 s" in str(slow.value)


async def test_headers_and_token_reach_http_and_websocket(double):
    headers = {"Authorization": "Bearer secret"}
    async with ComfyClient(double.url, headers=headers, token="t0k") as client:
        await client.system_stats()
        await client.queue()
        async with websockets.connect(client.ws_url, additional_headers=client.headers):
            pass

    assert len(double.requests) == 2
    for recorded in [*double.requests, *double.ws_handshakes]:
        assert recorded.headers.get("Authorization") == "Bearer secret"
        assert recorded.query.get("token") == "t0k"
    (handshake,) = double.ws_handshakes
    assert handshake.query.get("clientId") == client.client_id


async def test_server_information(client):
    assert await client.models() != []
    assert CHECKPOINT in await client.models("checkpoints")
    assert "KSampler" in await client.object_info()
    assert list(await client.object_info("KSampler")) == ["KSampler"]
    assert "system" in await client.system_stats()
    assert isinstance(await client.features(), dict)
    assert await client.job("9e0c1d1e-0000-4000-8000-000000000000") is None
