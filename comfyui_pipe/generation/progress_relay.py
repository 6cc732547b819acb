"""A job's progress on its way to whoever shows it, and its end after the last of it.

A job's events reach its :class:`ProgressRelay` synchronously (socket → the job's
queue → the job's task → tracker → :meth:`ProgressRelay.offer`); the relay's own
task sends what the :class:`ProgressThrottle` says is due to the job's
:class:`ProgressSink`, and its end once the last progress has gone. Sinks (the chat,
the API's Socket.IO events, an adopted job's delivery) only format.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Any, Protocol

from comfyui_pipe.progress import ProgressSnapshot
from comfyui_pipe.progress.throttle import ProgressThrottle

from .records import JobRecord
from .sink import StoredFile

logger = logging.getLogger(__name__)

FLUSH_TIMEOUT = 10.0
"""Seconds a job's last progress and its end may take to be shown before they are dropped."""


class ProgressSink(Protocol):
    async def show(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        """Show the job's progress (``snapshot.preview`` is set only when it is to be shown)."""
        ...

    async def end(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        """Show how the job ended (``record`` is terminal) with its stored ``files``."""
        ...


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
    """Sends one job's snapshots to its sink as the throttle allows, without ever blocking
    the job; :meth:`close` sends the last one and the job's end."""

    def __init__(
        self,
        record: JobRecord,
        sink: ProgressSink,
        lane: UpdateLane,
        throttle: ProgressThrottle,
    ) -> None:
        self.record = record
        """The job's record as the sink is to see it (kept current by the job's run)."""
        self._sink = sink
        self._lane = lane
        self._throttle = throttle
        self._sending = asyncio.Lock()
        """Held while one snapshot is taken and shown: they arrive in order."""
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._deliver(), name=f"progress-{record.id}")

    def offer(self, snapshot: ProgressSnapshot) -> None:
        due = self._throttle.due_at()
        self._throttle.offer(snapshot)
        if self._throttle.due_at() != due:
            # otherwise the sender already comes back (or the lane already has it) in time
            # to send the newest: hundreds of waiting jobs moving up need no wake-up each
            self._wake.set()

    async def close(self, record: JobRecord, files: Sequence[StoredFile] = ()) -> bool:
        """Show the last progress, then the end of the job (``record``); bounded. Whether
        the end was shown."""
        self._closing = True
        self._wake.set()
        await self._bounded(self._task)
        self.record = record
        return await self._bounded(self._guarded(self._sink.end, record, files))

    async def abandon(self) -> None:
        """Stop without showing an end (the job goes on elsewhere)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def send_due(self) -> None:
        """Send the held snapshot if it is due (the lane's turn for this job)."""
        if not self._closing:
            await self._send(self._throttle.take)

    async def _deliver(self) -> None:
        throttle = self._throttle
        while True:
            if self._closing:
                await self._send(throttle.take_last)
                return
            due = throttle.due_at()
            now = throttle.now()
            if due is not None and due <= now:
                # a place in line, even a job's first, takes its turn in the lane: a
                # burst of jobs queued at once must not hold up a running job's step
                if throttle.urgent() and not throttle.waiting():
                    await self._send(throttle.take)
                    continue
                self._lane.enqueue(self)
                due = None  # the lane sends it; wait for the next snapshot
            self._wake.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(None if due is None else due - now):
                    await self._wake.wait()

    async def _send(self, take: Callable[[], ProgressSnapshot | None]) -> None:
        async with self._sending:
            snapshot = take()
            if snapshot is not None and not snapshot.finished:
                # the outcome is shown by the sink's end, with the stored outputs
                await self._guarded(self._sink.show, self.record, snapshot)

    async def _guarded(self, call: Callable[..., Awaitable[None]], *args: Any) -> bool:
        try:
            await call(*args)
        except Exception:
            logger.exception("showing the progress of generation %s", self.record.id)
            return False
        return True

    @staticmethod
    async def _bounded(work: Awaitable[bool | None]) -> bool:
        """Whether ``work`` ended in time (and did not say it failed)."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait([task], timeout=FLUSH_TIMEOUT)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return False
        return task.result() is not False
