"""A job's progress on its way out: to a caller's callback, and onto its record."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from contextlib import suppress
from typing import Any

from comfyui_pipe.progress import ProgressSnapshot
from comfyui_pipe.progress.coalescer import LatestWins

from .records import JobRecord

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[JobRecord, ProgressSnapshot], Awaitable[None]]

PROGRESS_INTERVAL = 0.5
"""Seconds between two deliveries within one stage and step; a new stage or step goes at once."""
PROGRESS_FLUSH_TIMEOUT = 10.0
"""Seconds the last progress callback of a job may take before it is abandoned."""


def milestone(snapshot: ProgressSnapshot) -> Hashable:
    """What a user must never miss: a new stage, a new step."""
    return snapshot.stage, snapshot.step


class ProgressRelay:
    """Hands a job's snapshots to a callback, latest wins: every new stage or step at
    once, the newest snapshot of a step at the end of each throttle window, the last
    one always. Never blocks the job."""

    def __init__(
        self, record: JobRecord, callback: ProgressCallback, interval: float = PROGRESS_INTERVAL
    ) -> None:
        self._record = record
        self._callback = callback
        self._coalescer: LatestWins[ProgressSnapshot] = LatestWins(interval, milestone)
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._deliver(), name=f"progress-{record.id}")

    def push(self, snapshot: ProgressSnapshot) -> None:
        self._coalescer.offer(snapshot)
        self._wake.set()

    async def close(self) -> None:
        """Deliver the last snapshot (bounded), then stop."""
        self._closing = True
        self._wake.set()
        done, _ = await asyncio.wait([self._task], timeout=PROGRESS_FLUSH_TIMEOUT)
        if not done:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _deliver(self) -> None:
        coalescer = self._coalescer
        while True:
            snapshot = coalescer.take_remaining() if self._closing else coalescer.take()
            if snapshot is not None:
                try:
                    await self._callback(self._record, snapshot)
                except Exception:
                    logger.exception("progress callback of generation %s", self._record.id)
                continue
            if self._closing:
                return
            self._wake.clear()
            due = coalescer.due_at()
            with suppress(TimeoutError):
                async with asyncio.timeout(None if due is None else due - time.monotonic()):
                    await self._wake.wait()


def progress_summary(snapshot: ProgressSnapshot) -> dict[str, Any]:
    """The JSON-ready progress kept on a record (no preview image)."""
    return {
        "text": snapshot.describe(),
        "stage": snapshot.stage.value,
        "phase": snapshot.activity,
        "percent": round(snapshot.percent, 1),
        "step": snapshot.step,
        "steps": snapshot.steps,
        "queue_position": snapshot.queue_position,
        "queue_total": snapshot.queue_total,
        "eta_seconds": snapshot.eta_seconds,
        "elapsed_seconds": round(snapshot.elapsed_seconds, 2),
    }
