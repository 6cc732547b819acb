"""A job's progress on its way out: to a caller's callback, and onto its record."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from contextlib import suppress
from typing import Any, cast

from comfyui_pipe.progress import ProgressSnapshot, Stage
from comfyui_pipe.progress.coalescer import LatestWins

from .records import JobRecord

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[JobRecord, ProgressSnapshot], Awaitable[None]]

PROGRESS_INTERVAL = 0.5
"""Seconds between two deliveries within one stage and step; a new stage or step goes at once."""
WAITING_INTERVAL = 2.0
"""Seconds between two deliveries of a job's new place in line (waiting in a queue)."""
PROGRESS_FLUSH_TIMEOUT = 10.0
"""Seconds the last progress callback of a job may take before it is abandoned."""

_WAITING = frozenset({Stage.WAITING, Stage.QUEUED})


def milestone(snapshot: ProgressSnapshot) -> Hashable:
    """What a user must never miss: a new stage, a new step."""
    return snapshot.stage, snapshot.step


def window(milestone: Hashable) -> float:
    """The throttle window of updates within ``milestone``: longer while waiting in line."""
    stage, _ = cast(tuple[Stage, int | None], milestone)
    return WAITING_INTERVAL if stage in _WAITING else PROGRESS_INTERVAL


class UpdateLane:
    """Sends the due *updates* (not new stages or steps) and places in line of many
    relays, one relay at a time, each behind whatever is ready to run by then.

    When a queue moves, every waiting job's place changes at once: sent by each job's
    own relay, hundreds of updates would run before the new step of a running job that
    arrives meanwhile. Through the lane they take turns with it instead.
    """

    def __init__(self) -> None:
        self._ready: dict[ProgressRelay, None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def enqueue(self, relay: ProgressRelay) -> None:
        self._ready[relay] = None
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="progress-updates")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._ready:
                relay = next(iter(self._ready))
                del self._ready[relay]
                await relay.send_due()
                await asyncio.sleep(0)  # let ready milestones of other jobs go first


class ProgressRelay:
    """Hands a job's snapshots to a callback, latest wins: every new stage or step at
    once, the newest snapshot of a step at the end of each throttle window (through
    ``lane`` when given), the last one always. Never blocks the job."""

    def __init__(
        self,
        record: JobRecord,
        callback: ProgressCallback,
        lane: UpdateLane | None = None,
    ) -> None:
        self._record = record
        self._callback = callback
        self._lane = lane
        self._coalescer: LatestWins[ProgressSnapshot] = LatestWins(window, milestone)
        self._sending = asyncio.Lock()
        """Held while one snapshot is taken and delivered: they arrive in order."""
        self._wake = asyncio.Event()
        self._closing = False
        self._waiting = False
        """The newest snapshot is a place in line (its job has not started)."""
        self._task = asyncio.create_task(self._deliver(), name=f"progress-{record.id}")

    def push(self, snapshot: ProgressSnapshot) -> None:
        due = self._coalescer.due_at()
        self._coalescer.offer(snapshot)
        self._waiting = snapshot.stage in _WAITING
        if self._coalescer.due_at() != due:
            # otherwise the sender already comes back (or the lane already has it) in time
            # to send the newest: hundreds of waiting jobs moving up need no wake-up each
            self._wake.set()

    async def close(self) -> None:
        """Deliver the last snapshot (bounded), then stop."""
        self._closing = True
        self._wake.set()
        done, _ = await asyncio.wait([self._task], timeout=PROGRESS_FLUSH_TIMEOUT)
        if not done:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def send_due(self) -> None:
        """Deliver the next snapshot if it is due (the lane's turn for this job)."""
        if not self._closing:
            await self._send(self._coalescer.take)

    async def _deliver(self) -> None:
        coalescer = self._coalescer
        while True:
            if self._closing:
                while await self._send(coalescer.take_remaining):
                    pass
                return
            due = coalescer.due_at()
            if due is not None and due <= time.monotonic():
                # a place in line, even a job's first, takes its turn in the lane: a
                # burst of jobs queued at once must not hold up a running job's step
                if self._lane is None or (coalescer.urgent() and not self._waiting):
                    await self._send(coalescer.take)
                    continue
                self._lane.enqueue(self)
                due = None  # the lane delivers it; wait for the next snapshot
            self._wake.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(None if due is None else due - time.monotonic()):
                    await self._wake.wait()

    async def _send(self, take: Callable[[], ProgressSnapshot | None]) -> bool:
        """Take a snapshot and deliver it; False when there was none to take."""
        async with self._sending:
            snapshot = take()
            if snapshot is None:
                return False
            try:
                await self._callback(self._record, snapshot)
            except Exception:
                logger.exception("progress callback of generation %s", self._record.id)
            return True


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
