"""Raw aiohttp client helpers for tests of the double."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

TIMEOUT = 5


def empty_image_prompt(prefix: str = "t", color: int = 0) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def txt2img_prompt(steps: int = 3, seed: int = 1) -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "fox", "images": ["8", 0]}},
    }


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
