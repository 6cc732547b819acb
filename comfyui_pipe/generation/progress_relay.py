"""A job's progress on its way out: to a caller's callback, and onto its record."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from comfyui_pipe.progress import ProgressSnapshot

from .records import JobRecord

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[JobRecord, ProgressSnapshot], Awaitable[None]]

PROGRESS_FLUSH_TIMEOUT = 10.0
"""Seconds the last progress callback of a job may take before it is abandoned."""


class ProgressRelay:
    """Hands the latest snapshot to a callback whenever it is free; never blocks the job."""

    def __init__(self, record: JobRecord, callback: ProgressCallback) -> None:
        self._record = record
        self._callback = callback
        self._latest: ProgressSnapshot | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._deliver(), name=f"progress-{record.id}")

    def push(self, snapshot: ProgressSnapshot) -> None:
        self._latest = snapshot
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
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._latest is not None:
                snapshot, self._latest = self._latest, None
                try:
                    await self._callback(self._record, snapshot)
                except Exception:
                    logger.exception("progress callback of generation %s", self._record.id)
            if self._closing and self._latest is None:
                return


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
