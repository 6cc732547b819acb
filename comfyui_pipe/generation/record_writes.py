"""Writing a job's record: compare-and-set, and retried when the store fails.

A write applies only while the writing process owns the job and the stored
record has not ended (see ``JobStore.update``), so a late progress write can
never overtake the terminal one. A terminal write that fails is retried with
backoff: every record ends.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

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
            return await asyncio.shield(store.update(replace(record)))
        except Exception:
            delay = next(delays, None)
            if delay is None:
                logger.exception("saving generation %s", record.id)
                return True
            logger.warning("saving generation %s failed; retrying in %g s", record.id, delay)
            await asyncio.sleep(delay)
