"""A graceful stop (SIGTERM, Ctrl-C) hands the generations over at once.

On a stop signal uvicorn stops accepting connections, then waits for every request in
flight — a chat completion awaiting its generation among them — and only then runs the
app's lifespan shutdown. Without this a stop waited for every running generation to end
(minutes). Chained onto uvicorn's handler, the first stop signal also makes the service
hand its jobs over there and then (``GenerationService.hand_over``): the waiting requests
answer at once that the generation goes on, uvicorn stops within seconds, and the next
process adopts the jobs once this one has left its lease (at the lifespan's end).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from comfyui_pipe.openwebui.runtime import STATE_NAME

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def hand_over_jobs(app: Any) -> None:
    """The plugin's generations handed over, when its runtime runs."""
    runtime = getattr(app.state, STATE_NAME, None)
    if runtime is not None and runtime.started:
        await runtime.service.hand_over()


class HandOverOnStop:
    """``with HandOverOnStop(lambda: hand_over_jobs(app)):`` while the app serves.

    Chains onto the stop signals' Python handlers (uvicorn's, installed before the app
    starts): the first signal schedules ``stop`` on the running loop, then the handler
    before it runs as it would have. Off the main thread, or with no Python handler in
    place, it changes nothing."""

    def __init__(self, stop: Callable[[], Awaitable[None]]) -> None:
        self._stop = stop
        self._previous: dict[int, Callable[[int, FrameType | None], Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> HandOverOnStop:
        if threading.current_thread() is not threading.main_thread():
            return self
        self._loop = asyncio.get_running_loop()
        for stop_signal in STOP_SIGNALS:
            previous = signal.getsignal(stop_signal)
            if callable(previous):
                self._previous[stop_signal] = previous
                signal.signal(stop_signal, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for stop_signal, previous in self._previous.items():
            if signal.getsignal(stop_signal) == self._on_signal:
                signal.signal(stop_signal, previous)
        self._previous.clear()

    async def finished(self) -> None:
        """Wait for a hand-over the signal started (its errors are logged)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        if self._task is None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._start)
        self._previous[number](number, frame)

    def _start(self) -> None:
        if self._task is None:
            log.info("Stopping: the ComfyUI generations in flight are handed over")
            self._task = asyncio.create_task(self._handed_over(), name="comfyui-hand-over")

    async def _handed_over(self) -> None:
        try:
            await self._stop()
        except Exception:
            log.exception("Handing the ComfyUI generations over failed")
