"""The generation service: what callers (the chat, the Tool, the API) use.

``start()`` lets a request in (``admission``) and puts the job in our queue; the
``dispatcher`` sends waiting jobs to ComfyUI servers; a ``JobRun`` follows each job
to its end, which is written to its record, never raised. Jobs survive this process:
when it stops they stay on ComfyUI, and the process holding a lease next adopts them
(``adoption``). Records handed to callers are immutable snapshots.

The chat's Stop reaches the Pipe as ``asyncio.CancelledError`` while it awaits
:meth:`GenerationService.wait`. ``wait`` shields the job, so the caller cancels it
explicitly::

    try:
        record = await service.wait(record.id)
    except asyncio.CancelledError:
        await asyncio.shield(service.cancel(record.id))
        raise
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from comfyui_pipe.workflow import Workflow

from .admission import Admission
from .adoption import Delivery, LeaseKeeper
from .backends import BackendPool, ServerHealth
from .costs import ServerCosts
from .dispatcher import Dispatcher
from .errors import JobHandedOver
from .failures import Failure, FailureKind
from .handoff import HandOff
from .leases import LeaseStore, LeaseTimes
from .output_store import OutputStore
from .policy import Policy
from .prepare import check_workflow
from .progress_relay import ProgressSink, UpdateLane
from .records import JobRecord, JobStore
from .remote_cancel import cancel_elsewhere, stored_record
from .request import GenerationRequest
from .run import JobRun
from .run_context import RunContext
from .scheduler import QueueWeights
from .sink import OutputSink
from .transitions import Cancel

__all__ = ["GenerationService"]

logger = logging.getLogger(__name__)


class GenerationService:
    """``async with GenerationService(pool, workflows, store, sink) as service: ...``

    The service owns ``pool`` (and every pool given to :meth:`reconfigure`)
    unless ``owns_pool`` is false: it closes them when they are no longer used.
    With ``leases``, it keeps this process's lease and adopts the jobs of
    processes whose lease ran out; ``delivery`` shows adopted jobs' progress and end;
    ``weights`` gives some users more turns in the queue than others.
    """

    def __init__(
        self,
        pool: BackendPool,
        workflows: Mapping[str, Workflow],
        store: JobStore,
        sink: OutputSink,
        policy: Policy | None = None,
        *,
        owns_pool: bool = True,
        leases: LeaseStore | None = None,
        lease_times: LeaseTimes | None = None,
        delivery: Delivery | None = None,
        weights: QueueWeights | None = None,
    ) -> None:
        self.worker_id = uuid.uuid4().hex
        """This process's identity in the job table (its lease)."""
        self._pool = pool
        self._workflows = dict(workflows)
        self._store = store
        self._policy = policy or Policy()
        self._lease_times = lease_times or LeaseTimes()
        self._owns_pools = owns_pool
        self._owned: set[BackendPool] = {pool} if owns_pool else set()
        self._runs: dict[str, JobRun] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._closed = False
        self._lane = UpdateLane()
        now_pool, now_policy = (lambda: self._pool), (lambda: self._policy)
        self._outputs = OutputStore(sink, lambda: self._policy.max_output_bytes)
        self._costs, handoff = ServerCosts(), HandOff()
        self._dispatcher = Dispatcher(
            self._runs, store, now_pool, now_policy, self._costs, handoff, weights
        )
        self._context = RunContext(
            store,
            self._outputs,
            self._costs,
            handoff,
            self._lane,
            now_policy,
            self._dispatcher.wake,
            self._forget,
        )
        self._admission = Admission(
            store, now_pool, now_policy, lambda: self._workflows, self.worker_id
        )
        self._leases = self._lease_keeper(leases, delivery) if leases is not None else None

    def _lease_keeper(self, leases: LeaseStore, delivery: Delivery | None) -> LeaseKeeper:
        return LeaseKeeper(
            self.worker_id,
            leases,
            self._store,
            self._outputs,
            self._runs,
            lambda record, sink: self._enter(record, sink, adopted=True),
            lambda: self._pool,
            lambda: self._lease_times,
            delivery,
            self._dispatcher.wake,
        )

    async def __aenter__(self) -> Self:
        self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def open(self) -> None:
        """Start dispatching our queue and, with leases, heartbeating and adopting."""
        if self._loops or self._closed:
            return
        self._loops.append(asyncio.create_task(self._dispatcher.run(), name="comfyui-dispatch"))
        if self._leases is not None:
            self._loops.append(asyncio.create_task(self._leases.run(), name="comfyui-leases"))

    async def aclose(self) -> None:
        """Hand every job over (see :meth:`hand_over`), give up this process's lease (the
        next process adopts them at once) and close owned pools."""
        await self.hand_over()
        await self._lane.aclose()
        if self._leases is not None:
            await self._leases.leave()
        for pool in list(self._owned):
            await pool.aclose()
        self._owned.clear()

    @property
    def closed(self) -> bool:
        """This process has stopped following jobs (it stops)."""
        return self._closed

    async def hand_over(self) -> None:
        """Stop following jobs, at once: those on ComfyUI are left running and those in our
        queue waiting, for the next process to adopt (cancelled instead when the policy
        says so); :meth:`wait` raises ``JobHandedOver``. The lease is kept until
        :meth:`aclose`, so that nobody adopts them while this process still answers."""
        if self._closed:
            return
        self._closed = True
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        shutdown = Failure(FailureKind.SHUTDOWN)
        for run in list(self._runs.values()):
            if run.task is None and self._policy.cancel_on_shutdown:
                await run.end(Cancel(time.time(), failure=shutdown))
            elif run.task is None:
                await run.hand_over()
        tasks = [run.task for run in self._runs.values() if run.task is not None]
        tasks += list(self._retiring)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def pool(self) -> BackendPool:
        return self._pool

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def workflows(self) -> Mapping[str, Workflow]:
        return self._workflows

    def reconfigure(
        self,
        pool: BackendPool | None = None,
        policy: Policy | None = None,
        workflows: Mapping[str, Workflow] | None = None,
        lease_times: LeaseTimes | None = None,
    ) -> None:
        """New jobs use the new values; jobs in flight finish on the pool they
        started on, which is closed once the last of them has ended."""
        if policy is not None:
            self._policy = policy
        if lease_times is not None:
            self._lease_times = lease_times
        if workflows is not None:
            self._workflows = dict(workflows)
        if pool is not None and pool is not self._pool:
            old, self._pool = self._pool, pool
            if self._owns_pools:
                self._owned.add(pool)
                task = asyncio.create_task(self._retire(old), name="comfyui-pipe-retire-pool")
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)
            self._dispatcher.servers_changed()

    # -- what ComfyUI has ------------------------------------------------------------------

    async def models(self, folders: list[str]) -> dict[str, list[str]]:
        """The model files in each of ``folders`` on the most preferred reachable backend
        that lists them (``NotListed`` when only v2 servers are configured)."""
        server = await self._pool.pick_listing("models")
        found = await asyncio.gather(*(server.models(folder) for folder in folders))
        return dict(zip(folders, found, strict=True))

    async def health(self) -> list[ServerHealth]:
        """Each server's state, with what this process has learnt of it."""
        return [
            ServerHealth(**vars(health), learnt=self._costs.view(health.url))
            for health in await self._pool.health()
        ]

    async def object_info(self) -> dict[str, object]:
        """The node schemas (``/object_info``) of the most preferred reachable backend that
        has them (``NotListed`` when only v2 servers are configured)."""
        server = await self._pool.pick_listing("node schemas")
        return await self._pool.object_info(server) or {}

    async def check(self, workflow: Workflow) -> None:
        """Raise ``PromptRejected`` (or ``ComfyUnreachable``) unless a backend has every
        node and model ``workflow`` needs and accepts its values (a v2 server checks a
        prompt only when it is submitted)."""
        await check_workflow(self._pool, await self._pool.pick(), workflow)

    # -- jobs ------------------------------------------------------------------------------

    def running(self, owner_id: str) -> int:
        """The owner's jobs that have not ended yet in this process."""
        return sum(1 for run in self._runs.values() if run.record.owner_id == owner_id)

    async def start(
        self, request: GenerationRequest, sink: ProgressSink | None = None
    ) -> JobRecord:
        """Let ``request`` in and put it in our queue; raises a ``PipeError`` and leaves no
        record when it cannot be served. ``sink`` shows the job's progress, from its
        place in our queue, and its end."""
        self.open()
        admitted = await self._admission.admit(request, self.running(request.owner_id))
        record = admitted.record
        if self._closed:  # this process stops meanwhile: the next one runs it
            return record
        self._enter(record, sink, adopted=False, pinned=bool(request.images))
        self._dispatcher.validated(record.id, admitted.server)
        self._dispatcher.wake()  # jobs started at once leave our queue in one look at it
        return record

    async def wait(self, job_id: str) -> JobRecord:
        """The job's terminal record (for a job of this process; otherwise its stored
        record). Raises :class:`JobHandedOver` when this process stops meanwhile."""
        run = self._runs.get(job_id)
        if run is None:
            record = await stored_record(self._store, job_id)
            if self._closed and not record.state.terminal:
                raise JobHandedOver(job_id)
            return record
        # Bounded: the job ends by its deadline, then stores its outputs with HTTP timeouts.
        await asyncio.shield(run.ended.wait())
        if run.handed_over:
            raise JobHandedOver(job_id)
        return run.record

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel exactly this job: waiting in our queue, or on ComfyUI; followed here or
        by another process."""
        if self._closed:
            raise JobHandedOver(job_id)
        run = self._runs.get(job_id)
        if run is None:
            return await cancel_elsewhere(job_id, self._store, self._pool, self._outputs)
        return await run.cancel()

    def live(self, job_id: str) -> JobRecord | None:
        """The record of a job this process follows, with its progress now."""
        run = self._runs.get(job_id)
        return run.live() if run is not None else None

    # -- plumbing --------------------------------------------------------------------------

    def _enter(
        self, record: JobRecord, sink: ProgressSink | None, *, adopted: bool, pinned: bool = False
    ) -> JobRun:
        run = JobRun(record, self._context, sink, adopted=adopted, pinned=pinned)
        self._runs[record.id] = run
        return run

    def _forget(self, job_id: str) -> None:
        run = self._runs.pop(job_id, None)
        self._dispatcher.forget(job_id)
        if run is None or not run.left_server:  # one that left woke the dispatcher then
            self._dispatcher.wake()

    async def _retire(self, pool: BackendPool) -> None:
        users = [run for run in self._runs.values() if run.pool is pool]
        await asyncio.gather(*(run.ended.wait() for run in users))
        self._owned.discard(pool)
        await pool.aclose()
