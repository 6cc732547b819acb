"""Write transactions on Open WebUI's database that never fail for being many at once.

SQLite takes one writer at a time: hundreds of concurrent transactions (as many
``POST /generate`` at once) each wait in SQLite's busy handler, and those that
wait longer than its ``busy_timeout`` fail with "database is locked". Here the
transactions of one process take turns on an ``asyncio.Lock`` instead (nothing
waits inside SQLite), and a transaction that still finds the database locked by
another process is retried after a backoff. PostgreSQL runs them concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")

LOCKED_RETRY_DELAYS = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
"""Seconds before each new attempt of a transaction that found the database locked."""


class Writes:
    """Runs write transactions on ``engine``: one at a time per process on SQLite,
    retried while another process holds SQLite's lock."""

    def __init__(
        self,
        engine: AsyncEngine,
        delays: tuple[float, ...] = LOCKED_RETRY_DELAYS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._engine = engine
        self._delays = delays
        self._sleep = sleep
        self._turns: AbstractAsyncContextManager[object] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``work`` in one transaction, committed; run again from the start while the
        database is locked by another writer (the last attempt's error is raised)."""
        delays = iter(self._delays)
        while True:
            try:
                async with self._turns, self._engine.begin() as connection:
                    return await work(connection)
            except OperationalError as error:
                delay = next(delays, None)
                if delay is None or not is_locked(error):
                    raise
            await self._sleep(delay)


def is_locked(error: OperationalError) -> bool:
    """Whether SQLite refused because another connection holds its write lock."""
    return "database is locked" in str(error.orig)
