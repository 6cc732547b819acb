"""A Socket.IO client in an account's room, as the chat page is, keeping the jobs API's
``comfyui:job`` events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import socketio

from openwebui.harness import Account

WAIT = 30.0

Job = dict[str, Any]


class JobEvents:
    """A python-socketio client in an account's room, keeping ``comfyui:job`` events."""

    def __init__(self, url: str, account: Account) -> None:
        self._url = url
        self._account = account
        self._client = socketio.AsyncClient()
        self._events: list[Job] = []
        self._arrived = asyncio.Condition()
        self._client.on("events", self._record)

    async def _record(self, payload: dict[str, Any]) -> None:
        if payload["data"].get("type") != "comfyui:job":
            return
        async with self._arrived:
            self._events.append(payload["data"]["data"])
            self._arrived.notify_all()

    def of(self, job_id: str) -> list[Job]:
        return [event for event in self._events if event["id"] == job_id]

    async def wait_for(self, job_id: str, last: Callable[[Job], bool]) -> list[Job]:
        def arrived() -> bool:
            return any(last(event) for event in self.of(job_id))

        async with asyncio.timeout(WAIT), self._arrived:
            await self._arrived.wait_for(arrived)
        return self.of(job_id)

    async def __aenter__(self) -> JobEvents:
        await self._client.connect(
            self._url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            auth={"token": self._account.token},
            wait_timeout=WAIT,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.disconnect()
