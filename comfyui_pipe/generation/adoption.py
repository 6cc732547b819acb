"""Jobs whose request is gone: left by a process that stopped or died, and adopted by
another (or by the same deployment after a restart).

Every process keeps a lease (a heartbeat, see ``leases``); the unfinished jobs whose
owner holds none are orphans, and the :class:`LeaseKeeper` of a live process takes
them over (compare-and-set on their owner). Nobody waits on an adopted job any
more, so its progress and its end go wherever its :class:`Delivery` sends them
(for a chat: the chat message, through the host's socket layer). So do the ends of
jobs whose owner died after their terminal record and before their chat message was
finished (``JobRecord.awaits_delivery``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from .backends import BackendPool
from .failures import Failure, FailureKind
from .leases import LeaseStore, LeaseTimes
from .output_store import OutputStore
from .progress_relay import ProgressSink
from .records import JobRecord, JobStore, QueuedJob
from .run import JobRun
from .transitions import Delivered, Fail, transition

logger = logging.getLogger(__name__)


class Delivery(Protocol):
    async def sink_for(self, record: JobRecord) -> ProgressSink | None:
        """Where the adopted job's progress and end go from now on; None for nowhere."""
        ...


def orphans(unfinished: Sequence[QueuedJob], live: Collection[str]) -> list[QueuedJob]:
    """The unfinished jobs whose owner holds no lease (or that never had an owner)."""
    return [job for job in unfinished if job.worker_id is None or job.worker_id not in live]


class LeaseKeeper:
    """Keeps this process's lease and adopts the jobs of processes that lost theirs."""

    def __init__(
        self,
        worker_id: str,
        leases: LeaseStore,
        store: JobStore,
        outputs: OutputStore,
        runs: Mapping[str, JobRun],
        enter: Callable[[JobRecord, ProgressSink | None], JobRun],
        pool: Callable[[], BackendPool],
        times: Callable[[], LeaseTimes],
        delivery: Delivery | None,
        wake_dispatcher: Callable[[], None],
    ) -> None:
        self._worker_id = worker_id
        self._leases = leases
        self._store = store
        self._outputs = outputs
        self._runs = runs
        self._enter = enter
        self._pool = pool
        self._times = times
        self._delivery = delivery
        self._wake_dispatcher = wake_dispatcher

    async def run(self) -> None:
        """Heartbeat, adopt orphans, and look at adopted jobs on ComfyUI (their events may
        not reach this process), every heartbeat."""
        while True:
            times = self._times()
            try:
                await self._keep(times)
            except Exception:
                logger.exception("keeping the lease and adopting generations")
            await asyncio.sleep(times.heartbeat)

    async def leave(self) -> None:
        try:
            await self._leases.leave(self._worker_id)
        except Exception:
            logger.exception("giving up this process's lease")

    async def _keep(self, times: LeaseTimes) -> None:
        now = time.time()
        await self._leases.heartbeat(self._worker_id, now)
        live = await self._leases.live_workers(now - times.expiry)
        for job in orphans(await self._store.unfinished(), live | {self._worker_id}):
            if job.id not in self._runs and await self._store.adopt(
                job.id, job.worker_id, self._worker_id
            ):
                await self._adopt(job.id)
        for job in orphans(await self._store.undelivered(), live | {self._worker_id}):
            if await self._store.adopt(job.id, job.worker_id, self._worker_id):
                await self._show_end(job.id)
        for run in list(self._runs.values()):
            if run.adopted and run.job is not None:
                await run.job.reconcile()

    async def _show_end(self, job_id: str) -> None:
        """Show the end of a job whose owner died before its chat message was finished."""
        record = await self._store.get(job_id)
        if record is None or not record.awaits_delivery or record.worker_id != self._worker_id:
            return
        logger.info("finishing the chat message of generation %s", record.id)
        sink = await self._delivery.sink_for(record) if self._delivery is not None else None
        try:
            if sink is not None:
                await sink.end(record, await self._outputs.stored(record.output_file_ids))
        except Exception:
            logger.exception("showing the end of generation %s", record.id)
            return
        await self._store.delivered(transition(record, Delivered()))

    async def _adopt(self, job_id: str) -> None:
        """Carry on with a job this process now owns: back in our queue, or followed on
        its server (its outputs are delivered if it finished meanwhile; a job ComfyUI
        no longer knows fails)."""
        record = await self._store.get(job_id)
        if record is None or record.state.terminal or record.worker_id != self._worker_id:
            return
        logger.info("adopting generation %s", record.id)
        sink = await self._delivery.sink_for(record) if self._delivery is not None else None
        run = self._enter(record, sink)
        if not record.dispatched:
            self._wake_dispatcher()
            return
        assert record.backend is not None
        pool = self._pool()
        try:
            server = await pool.server(record.backend, record.client_id)
        except KeyError:
            await run.end(Fail(Failure(FailureKind.SERVER_GONE), time.time()))
            return
        run.follow_adopted(pool, server)
