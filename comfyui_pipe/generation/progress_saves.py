"""When a running job's progress is written into its record: half a second after its
sampler begins (a process that adopts it then shows its steps at once), a second after
it starts if it has not sampled by then, and every ``progress_save_every`` seconds when
the admin asks for it. A job that ends before such a write is due writes its progress
with its end instead: one write fewer for a quick job (a few fast steps, or no sampler)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .policy import Policy

START_WRITE_DELAY = 1.0
"""Seconds a job runs before its start is written on its own."""
SAMPLING_WRITE_DELAY = 0.5
"""Seconds a sampler runs before its progress is written."""


class ProgressSaves:
    def __init__(self, save: Callable[[], None], policy: Callable[[], Policy]) -> None:
        self._save = save
        self._policy = policy
        """The current policy: its ``progress_save_every`` (0: only the start is written)."""
        self._saved_at = time.monotonic()
        self._pending: asyncio.TimerHandle | None = None
        self._sampled = False

    def started(self) -> None:
        self._saved_at = time.monotonic()
        self._write_within(START_WRITE_DELAY)

    def progressed(self, sampling: bool) -> None:
        if sampling and not self._sampled:
            self._sampled = True
            self._write_within(SAMPLING_WRITE_DELAY)
            return
        every = self._policy().progress_save_every
        if every > 0 and time.monotonic() - self._saved_at >= every:
            self.stop()
            self._write()

    def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _write_within(self, delay: float) -> None:
        """A write at most ``delay`` seconds from now (a pending one due sooner stays)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if self._pending is not None and self._pending.when() <= due:
            return
        self.stop()
        self._pending = loop.call_at(due, self._write)

    def _write(self) -> None:
        self._pending = None
        self._saved_at = time.monotonic()
        self._save()
