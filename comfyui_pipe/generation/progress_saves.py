"""When a running job's progress is written into its record: as its sampler begins (a
process that adopts it then shows its steps at once), a second after it starts if it
has not sampled by then (a job that ends sooner writes its start with its end: one
write fewer for a quick job without a sampler), and every ``progress_save_every``
seconds when the admin asks for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .policy import Policy

START_WRITE_DELAY = 1.0
"""Seconds a job runs before its start is written on its own."""


class ProgressSaves:
    def __init__(self, save: Callable[[], None], policy: Callable[[], Policy]) -> None:
        self._save = save
        self._policy = policy
        """The current policy: its ``progress_save_every`` (0: only the start is written)."""
        self._saved_at = time.monotonic()
        self._start_write: asyncio.TimerHandle | None = None
        self._sampled = False

    def started(self) -> None:
        self._saved_at = time.monotonic()
        self._start_write = asyncio.get_running_loop().call_later(START_WRITE_DELAY, self._write)

    def progressed(self, sampling: bool) -> None:
        if sampling and not self._sampled:
            self._sampled = True
            self.stop()
            self._write()
            return
        every = self._policy().progress_save_every
        if every > 0 and time.monotonic() - self._saved_at >= every:
            self._write()

    def stop(self) -> None:
        if self._start_write is not None:
            self._start_write.cancel()

    def _write(self) -> None:
        self._saved_at = time.monotonic()
        self._save()
