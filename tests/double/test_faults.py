"""Each fault knob changes what a raw client sees."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from comfyui_double.graphs import empty_image_prompt, txt2img_prompt
from double_helpers import (
    frames_until_closed,
    next_event,
    submit,
)


async def test_drop_sockets_closes_the_socket_but_the_job_finishes(comfy_double) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{comfy_double.url}/ws?clientId=c1")
        await next_event(ws)
        submitted = await submit(session, comfy_double.url, txt2img_prompt(steps=5), client_id="c1")
        while (await next_event(ws))["type"] != "progress":
            pass
        comfy_double.faults.drop_sockets()
        await frames_until_closed(ws)
        assert ws.closed
        await comfy_double.wait_idle(timeout=5)
        entry = comfy_double.history[submitted["prompt_id"]]
        assert entry["status"]["status_str"] == "success"


async def test_silent_socket_stays_open_and_hears_nothing(comfy_double) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{comfy_double.url}/ws?clientId=c1")
        await next_event(ws)
        comfy_double.faults.silent = True
        submitted = await submit(session, comfy_double.url, empty_image_prompt(), client_id="c1")
        await comfy_double.wait_idle(timeout=5)
        assert submitted["prompt_id"] in comfy_double.history
        comfy_double.faults.silent = False
        await ws.send_str('{"type": "feature_flags", "data": {}}')
        # the first frame after the silence is the answer to this message: nothing was queued
        assert (await next_event(ws))["type"] == "feature_flags"
        assert not ws.closed


async def test_slow_route_delays_the_answer(comfy_double) -> None:
    comfy_double.faults.slow_routes["/history"] = 0.5
    async with aiohttp.ClientSession() as session:
        request = asyncio.ensure_future(session.get(f"{comfy_double.url}/api/history/x"))
        done, _ = await asyncio.wait({request}, timeout=0.2)
        assert not done
        async with await request as response:
            assert await response.json() == {}
        async with session.get(f"{comfy_double.url}/queue") as response:
            assert response.status == 200


@pytest.mark.parametrize("path", ["/queue", "/api/queue"])
async def test_failing_route_answers_with_the_status(comfy_double, path: str) -> None:
    comfy_double.faults.failing_routes["/queue"] = 503
    async with aiohttp.ClientSession() as session, session.get(comfy_double.url + path) as response:
        assert response.status == 503


@pytest.mark.parametrize("key", ["KSampler", "3"])
async def test_error_on_node_fails_the_job_like_a_runtime_error(comfy_double, key: str) -> None:
    comfy_double.faults.error_on_node[key] = ("torch.OutOfMemoryError", "CUDA out of memory.")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{comfy_double.url}/ws?clientId=c1")
        await next_event(ws)
        submitted = await submit(session, comfy_double.url, txt2img_prompt(), client_id="c1")
        while (event := await next_event(ws))["type"] != "execution_error":
            assert event["type"] != "progress"
        assert event["data"]["node_id"] == "3"
        assert event["data"]["node_type"] == "KSampler"
        assert event["data"]["exception_type"] == "torch.OutOfMemoryError"
        assert event["data"]["exception_message"] == "CUDA out of memory."
        assert [(await next_event(ws))["type"] for _ in range(2)] == ["status", "executing"]
        entry = comfy_double.history[submitted["prompt_id"]]
        assert entry["status"]["status_str"] == "error"
        assert entry["status"]["messages"][-1][0] == "execution_error"


@pytest.mark.parametrize("bug", [True, False])
async def test_replaced_socket_closing_unregisters_the_new_one_only_with_the_bug(
    comfy_double, bug: bool
) -> None:
    comfy_double.faults.unregister_reconnected = bug
    async with aiohttp.ClientSession() as session:
        old = await session.ws_connect(f"{comfy_double.url}/ws?clientId=same")
        await next_event(old)
        new = await session.ws_connect(f"{comfy_double.url}/ws?clientId=same")
        await next_event(new)
        assert comfy_double.ws_connections == 2
        await old.close()
        # a handshake on the new socket answers only while it is still registered
        await new.send_str('{"type": "feature_flags", "data": {}}')
        submitted = await submit(session, comfy_double.url, empty_image_prompt(), client_id="same")
        await comfy_double.wait_idle(timeout=5)
        comfy_double.faults.drop_sockets()
        heard = [event["type"] for event in await frames_until_closed(new)]
        if bug:
            assert heard == []
        else:
            assert heard[0] == "feature_flags"
            assert "execution_success" in heard
            assert heard[-1] == "executing"
        assert submitted["prompt_id"] in comfy_double.history


async def test_restart_forgets_queue_history_and_counter(comfy_double) -> None:
    url = comfy_double.url
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws?clientId=c1")
        await next_event(ws)
        first = await submit(session, url, empty_image_prompt(), client_id="c1")
        await comfy_double.wait_idle(timeout=5)
        await submit(session, url, txt2img_prompt(steps=200), client_id="c1")
        await comfy_double.restart()
        await frames_until_closed(ws)
        assert ws.closed
        assert comfy_double.url == url
        async with session.get(f"{url}/history/{first['prompt_id']}") as response:
            assert await response.json() == {}
        async with session.get(f"{url}/queue") as response:
            assert await response.json() == {"queue_running": [], "queue_pending": []}
        again = await submit(session, url, empty_image_prompt())
        assert again["number"] == 0
