"""The /ws endpoint: one socket per clientId, targeted and broadcast frames."""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from .faults import Faults

PREVIEW = 1
PREVIEW_WITH_METADATA = 4
JPEG = 1


class SocketHub:
    def __init__(
        self,
        faults: Faults,
        queue_info: Callable[[], dict[str, Any]],
        features: dict[str, Any],
    ) -> None:
        self._faults = faults
        self._features = features
        self._queue_info = queue_info
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._wants_metadata: dict[str, bool] = {}
        self._open: set[web.WebSocketResponse] = set()
        self._closing: set[asyncio.Task[Any]] = set()
        self.connections = 0

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self.connections += 1
        self._open.add(ws)
        # like the real server, the replaced socket stays open but hears nothing more
        self._sockets[sid] = ws
        self._wants_metadata.pop(sid, None)
        try:
            await self.send("status", {"status": self._queue_info(), "sid": sid}, sid)
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await self._on_text(sid, message.data)
        finally:
            self._open.discard(ws)
            if self._faults.unregister_reconnected or self._sockets.get(sid) is ws:
                self._sockets.pop(sid, None)
                self._wants_metadata.pop(sid, None)
        return ws

    async def _on_text(self, sid: str, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == "feature_flags":
            flags = message.get("data") or {}
            self._wants_metadata[sid] = bool(flags.get("supports_preview_metadata"))
            await self.send("feature_flags", self._features, sid)

    def wants_metadata(self, sid: str | None) -> bool:
        return sid is not None and self._wants_metadata.get(sid, False)

    async def send(self, event: str, data: dict[str, Any], sid: str | None = None) -> None:
        """To the socket of `sid`, or to every socket when sid is None."""
        await self._deliver(json.dumps({"type": event, "data": data}), sid)

    async def send_preview(
        self, jpeg: bytes, sid: str | None, metadata: dict[str, Any] | None
    ) -> None:
        if metadata is None:
            frame = struct.pack(">II", PREVIEW, JPEG) + jpeg
        else:
            encoded = json.dumps(metadata).encode()
            frame = struct.pack(">II", PREVIEW_WITH_METADATA, len(encoded)) + encoded + jpeg
        await self._deliver(frame, sid)

    async def _deliver(self, frame: str | bytes, sid: str | None) -> None:
        if self._faults.silent:
            return
        targets = list(self._sockets.values()) if sid is None else [self._sockets.get(sid)]
        for ws in targets:
            if ws is None or ws.closed:
                continue
            try:
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
            except ConnectionError:
                continue  # a vanished client misses its events, as on the real server

    def drop_all(self) -> None:
        for ws in list(self._open):
            task = asyncio.get_running_loop().create_task(ws.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close_all(self) -> None:
        self.drop_all()
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=5)
        self._sockets.clear()
        self._wants_metadata.clear()
