"""The one WebSocket per server: routing, reconnecting, the silence watchdog, shutdown."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from comfyui_double import ComfyDouble

from comfyui_pipe.comfy.client import ComfyClient
from comfyui_pipe.comfy.errors import ComfyUnreachable
from comfyui_pipe.comfy.events import Event, Executing, Preview, ProgressState, Status
from comfyui_pipe.comfy.stream import EventStream, Subscription

WORKFLOWS = Path(__file__).parent.parent / "fixtures" / "traces" / "workflows"
MODELS = {"checkpoints": ["sdrand15.safetensors"]}
# two recorded txt2img graphs with different seeds, so neither is served from cache
SAMPLED = ("g_txt2img_seed43_steps12.json", "e3_txt2img_sdrand_64_4steps_seed778.json")


def workflow(name: str) -> dict[str, Any]:
    return json.loads((WORKFLOWS / name).read_text())


@pytest.fixture(params=["0.8", "0.33"])
async def double(request: pytest.FixtureRequest) -> AsyncIterator[ComfyDouble]:
    async with ComfyDouble(step_seconds=0.01, models=MODELS, version=request.param) as running:
        yield running


@pytest.fixture
async def client(double: ComfyDouble) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(double.url) as opened:
        yield opened


async def until_done(subscription: Subscription) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(5):
        async for event in subscription:
            events.append(event)
            if isinstance(event, Executing) and event.node is None:
                return events
    raise AssertionError("the subscription ended before its prompt did")


def reconnect_signal(stream: EventStream) -> asyncio.Queue[None]:
    calls: asyncio.Queue[None] = asyncio.Queue()

    async def on_reconnect() -> None:
        calls.put_nowait(None)

    stream.add_reconnect_listener(on_reconnect)
    return calls


async def test_each_prompt_hears_its_own_events_and_every_status(
    double: ComfyDouble, client: ComfyClient
) -> None:
    async with EventStream(client) as stream:
        await stream.wait_connected(2)
        ids = [str(uuid.uuid4()) for _ in SAMPLED]
        subscriptions = [stream.subscribe(prompt_id) for prompt_id in ids]
        for name, prompt_id in zip(SAMPLED, ids, strict=True):
            await client.submit(workflow(name), prompt_id=prompt_id)
        heard = await asyncio.gather(*(until_done(s) for s in subscriptions))

    assert double.ws_connections == 1
    for prompt_id, events in zip(ids, heard, strict=True):
        targeted = [e for e in events if not isinstance(e, Status)]
        assert {e.prompt_id for e in targeted} == {prompt_id}
        assert any(isinstance(e, Status) for e in events)
        # the feature_flags handshake makes previews name their prompt and node
        previews = [e for e in targeted if isinstance(e, Preview)]
        assert previews and {e.node_id for e in previews} == {"3"}
        assert {e.image_type for e in previews} == {"image/jpeg"}
        # per-node state of the whole prompt, sampler steps included
        states = [e for e in targeted if isinstance(e, ProgressState)]
        assert states[-1].nodes["3"]["state"] == "finished"
        assert any(
            0 < e.nodes["3"]["value"] < e.nodes["3"]["max"] for e in states if "3" in e.nodes
        )


async def test_a_dropped_socket_comes_back_and_tells_the_listeners(
    double: ComfyDouble, client: ComfyClient
) -> None:
    async with EventStream(client, backoff=(0.01, 0.1)) as stream:
        reconnects = reconnect_signal(stream)
        await stream.wait_connected(2)
        double.faults.drop_sockets()
        await asyncio.wait_for(reconnects.get(), 5)
        prompt_id = str(uuid.uuid4())
        subscription = stream.subscribe(prompt_id)
        await client.submit(workflow("d2_short.json"), prompt_id=prompt_id)
        events = await until_done(subscription)

    assert stream.connections == double.ws_connections == 2
    assert reconnects.empty()
    assert any(isinstance(e, Executing) and e.node == "2" for e in events)


async def test_silence_while_a_prompt_is_awaited_forces_a_reconnect(
    double: ComfyDouble, client: ComfyClient
) -> None:
    async with EventStream(client, silence_timeout=0.2, backoff=(0.01, 0.1)) as stream:
        reconnects = reconnect_signal(stream)
        await stream.wait_connected(2)
        double.faults.silent = True
        stream.subscribe(str(uuid.uuid4()))
        await asyncio.wait_for(reconnects.get(), 5)

    assert stream.connections == 2


async def test_leaving_the_stream_ends_subscriptions_and_leaves_no_task(
    client: ComfyClient,
) -> None:
    before = asyncio.all_tasks()
    async with EventStream(client) as stream:
        await stream.wait_connected(2)
        subscription = stream.subscribe(str(uuid.uuid4()))
        reader = asyncio.create_task(until_done(subscription))

    with pytest.raises(AssertionError, match="ended before"):
        await reader
    assert asyncio.all_tasks() == before


async def test_waiting_for_a_server_that_is_not_there_gives_up() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    async with (
        ComfyClient(f"http://127.0.0.1:{port}") as client,
        EventStream(client, backoff=(0.01, 0.05)) as stream,
    ):
        with pytest.raises(ComfyUnreachable, match="not reachable"):
            await stream.wait_connected(0.3)
