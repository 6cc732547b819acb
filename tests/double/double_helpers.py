"""Raw aiohttp client helpers for tests of the double."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

TIMEOUT = 5


async def submit(
    session: aiohttp.ClientSession, url: str, prompt: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    async with session.post(f"{url}/prompt", json={"prompt": prompt, **extra}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def next_event(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next text frame, skipping binary previews."""
    while True:
        message = await asyncio.wait_for(ws.receive(), TIMEOUT)
        if message.type is aiohttp.WSMsgType.TEXT:
            return json.loads(message.data)
        assert message.type is aiohttp.WSMsgType.BINARY, message


async def events_until_done(ws: aiohttp.ClientWebSocketResponse, prompt_id: str) -> list[str]:
    types = []
    while True:
        event = await next_event(ws)
        types.append(event["type"])
        if event == {"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}:
            return types


async def frames_until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Text frames still to read, up to the server closing the socket."""
    events = []
    while True:
        message = await asyncio.wait_for(ws.receive(), TIMEOUT)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return events
        if message.type is aiohttp.WSMsgType.TEXT:
            events.append(json.loads(message.data))
