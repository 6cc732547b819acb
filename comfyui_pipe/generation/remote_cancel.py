"""Cancelling a job that another process follows.

Waiting in our queue, it is ended there (compare-and-set); queued on ComfyUI, it is
cancelled on its server by prompt id and its owner ends its record. Bounded: after the
cancel timeout the record is ended here, and whatever its owner had stored is discarded.
"""

from __future__ import annotations

import asyncio
import time

from .backends import BackendPool
from .errors import JobNotFound
from .output_store import OutputStore
from .records import JobRecord, JobStore
from .transitions import Cancel, transition

CANCEL_POLL = 0.2
"""Seconds between looks at another process's job while cancelling it."""
CANCEL_RESEND = 1.0
"""Seconds between cancels sent to ComfyUI for another process's job that goes on."""


async def stored_record(store: JobStore, job_id: str) -> JobRecord:
    record = await store.get(job_id)
    if record is None:
        raise JobNotFound(job_id)
    return record


async def cancel_elsewhere(
    job_id: str, store: JobStore, pool: BackendPool, outputs: OutputStore
) -> JobRecord:
    """The job's record once it has ended (cancelled, or finished meanwhile)."""
    deadline = time.monotonic() + pool.timeouts.cancel
    next_cancel = 0.0
    while True:
        record = await stored_record(store, job_id)
        if record.state.terminal:
            return record
        ended = transition(record, Cancel(time.time()))
        if not record.dispatched:
            if await store.end_elsewhere(ended):
                return ended
            continue
        if time.monotonic() >= next_cancel and record.backend is not None:
            # Sent again while the job goes on: its owner may not have queued the
            # prompt on ComfyUI yet when the first one arrived.
            await pool.cancel(record.backend, record.prompt_id or "")
            next_cancel = time.monotonic() + CANCEL_RESEND
        if time.monotonic() >= deadline:
            if await store.end_elsewhere(ended):
                # Its owner may be gone while storing its outputs.
                await outputs.discard(await outputs.stored_so_far(record))
            return await stored_record(store, job_id)
        await asyncio.sleep(CANCEL_POLL)
