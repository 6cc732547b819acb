"""Writing a job's records: compare-and-set, in order, and retried when the store fails.

A write applies only while the writing process owns the job and the stored
record has not ended (see ``JobStore.update``), so a late progress write can
never overtake the terminal one. A terminal write that fails is retried with
backoff: every record ends.
"""

from __future__ import annotations

import asyncio
import logging

from .records import JobRecord, JobStore

logger = logging.getLogger(__name__)

FINAL_WRITE_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Seconds between the attempts of a terminal write."""


async def write_record(store: JobStore, record: JobRecord, *, final: bool = False) -> bool:
    """Write a copy of ``record`` as it is now; False when the job is no longer ours to
    write (another process owns it, or it has ended). A progress write is tried once; a
    failing store is logged and counts as written."""
    delays = iter(FINAL_WRITE_DELAYS if final or record.state.terminal else ())
    while True:
        try:
            return await asyncio.shield(store.update(record))
        except Exception:
            delay = next(delays, None)
            if delay is None:
                logger.exception("saving generation %s", record.id)
                return True
            logger.warning("saving generation %s failed; retrying in %g s", record.id, delay)
            await asyncio.sleep(delay)


class RecordWriter:
    """Writes one job's records in the order given, without holding up its events: each
    write starts once the one before it is done. The first write the store refuses
    (the job is no longer this process's) sets :attr:`disowned`; later ones are skipped."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._last: asyncio.Future[bool] | None = None
        self.disowned = asyncio.Event()

    def write_soon(self, record: JobRecord) -> None:
        self._last = asyncio.ensure_future(self._after(self._last, record))

    async def write(self, record: JobRecord) -> bool:
        """Write ``record`` after the pending ones; False when the job is not ours."""
        self.write_soon(record)
        return await self.settled()

    async def settled(self) -> bool:
        """Whether every write so far went through (False: the job is not ours)."""
        return True if self._last is None else await asyncio.shield(self._last)

    async def stored(self, job_id: str) -> JobRecord | None:
        """The job's record as stored now (None when it cannot be read)."""
        try:
            return await self._store.get(job_id)
        except Exception:
            logger.exception("reading generation %s", job_id)
            return None

    async def _after(self, previous: asyncio.Future[bool] | None, record: JobRecord) -> bool:
        if previous is not None and not await previous:
            return False
        written = await write_record(self._store, record)
        if not written:
            self.disowned.set()
        return written
