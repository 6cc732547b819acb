"""A scripted OpenAI-compatible chat model: a real HTTP server (aiohttp, own thread)
that Open WebUI talks to as one of its OpenAI connections.

Given a user message it answers with the tool call its script names (native
function calling: Open WebUI runs the tool on the server and calls the model again
with the result); given a tool result it answers with its ``reply`` to it (by
default a short text that relays it, as a model would). It keeps every request it
got, so a test can see which tools were offered and what the tool returned.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from openwebui.harness import free_port

MODEL_ID = "scripted"


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


Script = Callable[[str], ToolCall | None]
"""The tool call a user message asks for, or None for a plain answer."""

Reply = Callable[[str], str]
"""The model's answer to a tool's result."""


def relay(tool_result: str) -> str:
    """The model's reply after a tool call: it passes on what the tool said."""
    return f"Here you go. {tool_result}"


class ScriptedModel:
    def __init__(self) -> None:
        self.port = free_port()
        self.script: Script = lambda text: None
        self.reply: Reply = relay
        self.requests: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="scripted-model")
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ScriptedModel:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def offered_tools(self, request: dict[str, Any]) -> list[str]:
        return [tool["function"]["name"] for tool in request.get("tools") or []]

    def tool_results(self) -> list[str]:
        return [
            str(message.get("content"))
            for request in self.requests
            for message in request["messages"][-1:]
            if message.get("role") == "tool"
        ]

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _models(self, request: web.Request) -> web.Response:
        model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "tests"}
        return web.json_response({"object": "list", "data": [model]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        last = body["messages"][-1]
        call = None
        if last.get("role") == "user":
            call = self.script(_text(last.get("content")))
            if call is not None and call.name not in self.offered_tools(body):
                call = None  # a model calls only the tools it was offered
        message: dict[str, Any]
        if call is not None:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{uuid.uuid4().hex[:8]}",
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                ],
            }
        elif last.get("role") == "tool":
            message = {"role": "assistant", "content": self.reply(_text(last.get("content")))}
        else:
            message = {"role": "assistant", "content": "Nothing to do."}
        if body.get("stream"):
            return await _stream(request, message)
        return web.json_response(_completion(message))


async def _stream(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    delta = dict(message)
    if delta.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(delta["tool_calls"])]
    reason = "tool_calls" if message.get("tool_calls") else "stop"
    for chunk in ({"delta": delta, "finish_reason": None}, {"delta": {}, "finish_reason": reason}):
        payload = {**_envelope("chat.completion.chunk"), "choices": [{"index": 0, **chunk}]}
        await response.write(f"data: {json.dumps(payload)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    return response


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    reason = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        **_envelope("chat.completion"),
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
    }


def _envelope(kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
        "object": kind,
        "created": int(time.time()),
        "model": MODEL_ID,
    }


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")
