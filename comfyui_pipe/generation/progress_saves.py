"""When a running job's progress is written into its record: a second after it starts (a
job that ends sooner writes its start with its end: one write fewer for most quick
jobs), then every ``progress_save_every`` seconds when the admin asks for it."""

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

    def started(self) -> None:
        self._saved_at = time.monotonic()
        self._start_write = asyncio.get_running_loop().call_later(START_WRITE_DELAY, self._write)

    def progressed(self) -> None:
        every = self._policy().progress_save_every
        if every > 0 and time.monotonic() - self._saved_at >= every:
            self._write()

    def stop(self) -> None:
        if self._start_write is not None:
            self._start_write.cancel()

    def _write(self) -> None:
        self._saved_at = time.monotonic()
        self._save()
