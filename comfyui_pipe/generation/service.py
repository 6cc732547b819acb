"""The generation service: validate a request, queue it, run it on a backend, keep its
record.

``start()`` validates and puts the job in our own queue (its record), raising
before anything is stored when the request cannot be served. The dispatcher sends
waiting jobs to ComfyUI servers (see ``scheduler``); a task then follows each job
to its outputs. Every outcome is written to the job's record, never raised.
Jobs survive this process: when it stops they stay on ComfyUI, and the process
holding a lease next adopts them (see ``leases`` and ``adoption``).

The chat's Stop reaches the Pipe as ``asyncio.CancelledError`` while it awaits
:meth:`GenerationService.wait`. ``wait`` shields the job, so the caller cancels
it explicitly::

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
from collections.abc import Collection, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass, field, fields, replace
from types import TracebackType
from typing import Self

from comfyui_pipe.comfy import (
    ComfyError,
    ComfyServer,
    ComfyUnreachable,
    Job,
    JobInterrupted,
    JobLost,
    JobTimedOut,
    PromptRejected,
)
from comfyui_pipe.comfy.errors import briefly_unavailable
from comfyui_pipe.comfy.queue import QueuePosition
from comfyui_pipe.errors import UserError
from comfyui_pipe.progress import ProgressSnapshot, ProgressTracker, Stage
from comfyui_pipe.workflow import GenerationParams, PreparedPrompt, Workflow, check_against

from .adoption import Delivery, orphans
from .backends import BackendHealth, BackendPool
from .errors import (
    JobHandedOver,
    TooManyJobs,
    UnknownWorkflow,
    for_user,
)
from .leases import LeaseStore, LeaseTimes
from .limits import Limits
from .output_store import OutputStore
from .prepare import apply, check_workflow, generation_metadata, prepare, submit
from .progress_relay import ProgressCallback, ProgressRelay, UpdateLane, progress_summary
from .record_writes import write_record
from .records import JobRecord, JobState, JobStore, QueuedJob
from .remote_cancel import CANCELLED_MESSAGE, cancel_elsewhere, stored_record
from .request import GenerationRequest, InputImage
from .scheduler import FairTurns, QueueWeights, Weight, equal_weight, plan
from .sink import OutputSink, StoredFile
from .speeds import ServerSpeeds, work_of
from .validation import validated_params

# Where the chat imports the request types from.
__all__ = ["GenerationRequest", "GenerationService", "InputImage", "Policy"]

logger = logging.getLogger(__name__)

SHUTDOWN_MESSAGE = "The generation was stopped because the server shut down."
GONE_BACKEND_MESSAGE = "The ComfyUI server this generation was queued on is no longer configured."
DISPATCH_POLL = 1.0
"""Seconds between looks at the shared queue while this process has jobs waiting or
queued on ComfyUI (other processes free servers too; servers die)."""


@dataclass(frozen=True)
class Policy:
    limits: Limits = field(default_factory=Limits)
    jobs_per_user: int = 2
    job_timeout: float = 900.0
    previews: bool = True
    server_depth: int = 2
    """Our jobs on one ComfyUI server at a time: one running and one pending by default."""
    cancel_on_shutdown: bool = False
    """Cancel this process's jobs on ComfyUI when it stops, instead of leaving them for
    the next process to adopt."""
    progress_save_every: float = 0.0
    """Seconds between writes of a running job's progress to its record (for readers in
    other processes); 0: its record is written only as its state changes."""


_FINAL_STAGES = {
    JobState.QUEUED: Stage.CANCELLED,
    JobState.RUNNING: Stage.CANCELLED,
    JobState.COMPLETED: Stage.DONE,
    JobState.FAILED: Stage.FAILED,
    JobState.CANCELLED: Stage.CANCELLED,
}


class _NoLongerOurs(Exception):
    """The job's record was ended by another process, or another process owns it now."""


@dataclass(eq=False)
class _ActiveJob:
    """A job this process follows: waiting in our queue, or queued on a server."""

    record: JobRecord
    tracker: ProgressTracker
    relay: ProgressRelay | None
    adopted: bool
    """Its request is gone (it was adopted): its end goes to the service's delivery."""
    pinned: bool = False
    """Its input images were uploaded to ``record.backend``: it can run only there."""
    pool: BackendPool | None = None
    server: ComfyServer | None = None
    job: Job | None = None
    task: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    handed_over: bool = False
    work: int = 0
    """Its units of work (sampler steps), for the servers' speeds."""
    ran_from: float | None = None
    """When its server started running it (monotonic), for the servers' speeds."""
    left_server: bool = False
    """ComfyUI has finished it (its outputs are being stored): its place there is free."""
    position: tuple[int, int] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def waiting(self) -> bool:
        """In our queue, not being dispatched."""
        return self.task is None and not self.cancel_requested


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
        self._pool = pool
        self._workflows = dict(workflows)
        self._store = store
        self._outputs = OutputStore(sink)
        self._policy = policy or Policy()
        self._owns_pools = owns_pool
        self._owned: set[BackendPool] = {pool} if owns_pool else set()
        self._active: dict[str, _ActiveJob] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._leases = leases
        self._lease_times = lease_times or LeaseTimes()
        self._delivery = delivery
        self._weights = weights
        self.worker_id = uuid.uuid4().hex
        """This process's identity in the job table (its lease)."""
        self._wake = asyncio.Event()
        self._dispatching = asyncio.Lock()
        self._loops: list[asyncio.Task[None]] = []
        self._runnable: dict[tuple[str, str], tuple[int, bool]] = {}
        self._closed = False
        self._updates = UpdateLane()
        self._speeds = ServerSpeeds()
        self._turns = FairTurns()

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
        self._loops.append(asyncio.create_task(self._dispatch_loop(), name="comfyui-dispatch"))
        if self._leases is not None:
            self._loops.append(asyncio.create_task(self._supervise(), name="comfyui-leases"))

    async def aclose(self) -> None:
        """Stop following jobs and close owned pools. Jobs on ComfyUI are left running for
        the next process to adopt, unless the policy says to cancel them on shutdown."""
        self._closed = True
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        cancel = self._policy.cancel_on_shutdown
        for entry in list(self._active.values()):
            if entry.task is None and cancel:
                entry.record.state, entry.record.error = JobState.CANCELLED, SHUTDOWN_MESSAGE
                await self._finish(entry, [])
            elif entry.task is None:
                await self._hand_over(entry)
        tasks = [entry.task for entry in self._active.values() if entry.task is not None]
        tasks += list(self._retiring)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._updates.aclose()
        if self._leases is not None:
            try:
                await self._leases.leave(self.worker_id)
            except Exception:
                logger.exception("giving up this process's lease")
        for pool in list(self._owned):
            await pool.aclose()
        self._owned.clear()

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
            self._runnable.clear()
            if self._owns_pools:
                self._owned.add(pool)
                task = asyncio.create_task(self._retire(old), name="comfyui-pipe-retire-pool")
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)
            self._wake.set()

    async def models(self, folders: list[str]) -> dict[str, list[str]]:
        """The model files in each of ``folders`` on the least busy reachable backend."""
        try:
            server = await self._pool.pick()
            found = await asyncio.gather(*(server.client.models(folder) for folder in folders))
        except ComfyError as error:
            raise for_user(error) from error
        return dict(zip(folders, found, strict=True))

    async def health(self) -> list[BackendHealth]:
        return await self._pool.health()

    async def object_info(self) -> dict[str, object]:
        """The node schemas (``/object_info``) of the least busy reachable backend."""
        try:
            return await self._pool.object_info(await self._pool.pick())
        except ComfyError as error:
            raise for_user(error) from error

    async def check(self, workflow: Workflow) -> None:
        """Raise ``PromptRejected`` (or ``ComfyUIUnavailable``) unless a backend has every
        node and model ``workflow`` needs and accepts its values."""
        try:
            server = await self._pool.pick()
            await check_workflow(self._pool, server, workflow)
        except ComfyError as error:
            raise for_user(error) from error

    def running(self, owner_id: str) -> int:
        """The owner's jobs that have not ended yet in this process."""
        return sum(1 for entry in self._active.values() if entry.record.owner_id == owner_id)

    async def start(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> JobRecord:
        """Validate ``request`` and put it in our queue; the returned record is kept up to
        date.

        Raises a :class:`UserError` (``RequestError`` & co., ``PromptRejected``,
        ``ComfyUIUnavailable``, ``TooManyJobs`` counted over every process) and leaves
        no record then. ``on_progress(record, snapshot)`` gets the job's snapshots
        (see :class:`ProgressRelay`), from its place in our queue to its end.
        """
        self.open()
        # A refused request leaves no record: everything checkable here is checked first.
        workflow = self._workflows.get(request.workflow_id)
        if workflow is None:
            raise UnknownWorkflow(request.workflow_id, self._workflows)
        policy = self._policy
        already = self.running(request.owner_id)
        if already >= policy.jobs_per_user:
            raise TooManyJobs(already, policy.jobs_per_user)
        params = validated_params(workflow, request, policy.limits)
        try:
            server, prepared = await self._prepare(workflow, request, params)
        except UserError as error:
            shown = for_user(error)
            if shown is not error:
                raise shown from error
            raise
        record = JobRecord(
            id=uuid.uuid4().hex,
            owner_id=request.owner_id,
            workflow_id=request.workflow_id,
            params=generation_metadata(workflow, prepared),
            state=JobState.QUEUED,
            created_at=time.time(),
            chat_id=request.chat_id,
            message_id=request.message_id,
            backend=server.client.base_url if request.images else None,
            worker_id=self.worker_id,
            prompt=dict(prepared.graph),
        )
        if not await self._store.create(record, policy.jobs_per_user):
            raise TooManyJobs(policy.jobs_per_user, policy.jobs_per_user)
        entry = self._enter(record, on_progress, adopted=False)
        entry.pinned = bool(request.images)
        url = server.client.base_url
        if (validated_against := self._pool.cached_object_info(url)) is not None:
            self._runnable[(record.id, url)] = (id(validated_against), True)
        self._wake.set()  # jobs started at once leave our queue in one look at it
        return record

    async def wait(self, job_id: str) -> JobRecord:
        """The job's terminal record (for a job of this process; otherwise its stored
        record). Raises :class:`JobHandedOver` when this process stops meanwhile."""
        entry = self._active.get(job_id)
        if entry is None:
            record = await stored_record(self._store, job_id)
            if self._closed and not record.state.terminal:
                raise JobHandedOver()
            return record
        # Bounded: the job ends by its job timeout, then downloads with HTTP timeouts.
        await asyncio.shield(entry.ended.wait())
        if entry.handed_over:
            raise JobHandedOver()
        return entry.record

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel exactly this job: waiting in our queue, or on ComfyUI; followed here or
        by another process."""
        if self._closed:
            raise JobHandedOver()
        entry = self._active.get(job_id)
        if entry is None:
            return await cancel_elsewhere(job_id, self._store, self._pool, self._outputs)
        entry.cancel_requested = True
        if entry.task is None:
            entry.record.state, entry.record.error = JobState.CANCELLED, CANCELLED_MESSAGE
            await self._finish(entry, [])
            return entry.record
        if entry.job is not None:
            await entry.job.cancel()
        await asyncio.wait([entry.task], timeout=self._pool.timeouts.cancel)
        return entry.record

    # -- starting --------------------------------------------------------------------------

    async def _prepare(
        self, workflow: Workflow, request: GenerationRequest, params: GenerationParams
    ) -> tuple[ComfyServer, PreparedPrompt]:
        """The prompt, applied and validated on the most preferred reachable server that
        has its nodes and models (and its input images uploaded there)."""
        rejected: PromptRejected | None = None
        async with aclosing(self._pool.reachable()) as servers:
            async for server in servers:
                try:
                    prepared = await prepare(self._pool, server, workflow, params)
                except PromptRejected as error:
                    rejected = rejected or error
                    continue
                if request.images:
                    names = [
                        (await server.client.upload_image(image.data, image.filename)).reference
                        for image in request.images
                    ]
                    seed = prepared.applied.get("seed")
                    uploaded = replace(params, images=tuple(names), seed=seed)
                    prepared = apply(workflow, uploaded, await self._pool.object_info(server))
                return server, prepared
        if rejected is not None:
            raise rejected
        raise ComfyUnreachable(", ".join(self._pool.urls), "none of the backends answered")

    def _enter(
        self, record: JobRecord, on_progress: ProgressCallback | None, *, adopted: bool
    ) -> _ActiveJob:
        entry = _ActiveJob(
            record,
            ProgressTracker(record.prompt or {}),
            ProgressRelay(record, on_progress, self._updates) if on_progress else None,
            adopted,
            work=work_of(record.prompt or {}),
        )
        self._active[record.id] = entry
        return entry

    # -- our queue -------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while True:
            if self._active:
                with suppress(TimeoutError):
                    async with asyncio.timeout(DISPATCH_POLL):
                        await self._wake.wait()
            else:
                await self._wake.wait()
            self._wake.clear()
            try:
                await self._dispatch()
            except Exception:
                logger.exception("dispatching generations")

    async def _dispatch(self) -> None:
        """One look at the shared queue: end what ended elsewhere, give up what waited too
        long, move what a dead server held, then send waiting jobs where they fit."""
        async with self._dispatching:
            await self._dispatch_once()

    async def _dispatch_once(self) -> None:
        # Only a job that waited before the look can be missing from it because it
        # ended elsewhere: one started meanwhile is simply not in it yet.
        looked_for = [entry for entry in self._active.values() if entry.waiting]
        if not looked_for:  # nothing of ours waits: the shared queue need not be read
            await self._move_off_dead_servers()
            return
        unfinished = await self._store.unfinished()
        listed = {job.id for job in unfinished}
        for entry in [entry for entry in looked_for if entry.waiting]:
            if entry.record.id not in listed:
                await self._let_go(entry)
            elif self._time_left(entry) <= 0:
                timed_out = JobTimedOut(entry.record.id, self._policy.job_timeout, "start")
                entry.record.state, entry.record.error = JobState.FAILED, str(timed_out)
                await self._finish(entry, [])
        await self._move_off_dead_servers()
        waiting = [entry for entry in self._active.values() if entry.waiting]
        if not waiting:
            return
        view = [
            QueuedJob.of(self._active[job.id].record) if job.id in self._active else job
            for job in unfinished
            if job.id not in self._active or not self._active[job.id].left_server
        ]
        backends = [url for url in self._pool.available() if await self._known(url)]
        weight = await self._weight_of({job.owner_id for job in view})
        order = self._turns.order(view, weight)
        for position, job in enumerate(order, start=1):
            mine = self._active.get(job.id)
            if mine is not None and mine.waiting:
                self._show_position(mine, position, len(order))
        depth = self._policy.server_depth
        placements = plan(
            view, backends, depth, self._can_run, order, seconds=self._expected, work=self._work
        )
        for placement in placements:
            mine = self._active.get(placement.job_id)
            if mine is not None and mine.waiting:
                self._launch(mine, placement.backend)
                self._turns.served(QueuedJob.of(mine.record), weight(mine.record.owner_id))

    async def _weight_of(self, owners: Collection[str]) -> Weight:
        """Each user's weight in the queue (1 unless ``weights`` says otherwise)."""
        if self._weights is None:
            return equal_weight
        try:
            weights = await self._weights.weights(owners)
        except Exception:
            logger.exception("reading the users' weights in the queue; all weigh 1 meanwhile")
            return equal_weight
        return lambda owner: weights.get(owner, 1.0)

    def _show_position(self, entry: _ActiveJob, position: int, total: int) -> None:
        if entry.position != (position, total):
            entry.position = (position, total)
            entry.tracker.feed(QueuePosition(entry.record.id, position, total))
            self._publish(entry)

    async def _known(self, url: str) -> bool:
        """Whether ``url`` answers with its node schemas (cached)."""
        try:
            await self._pool.object_info(await self._pool.server(url))
        except ComfyError:
            self._pool.mark_down(url)
            return False
        return True

    def _can_run(self, job: QueuedJob, url: str) -> bool:
        """Whether ``url`` has the nodes and models of ``job`` (a job of another process:
        assumed; that process checks it)."""
        entry = self._active.get(job.id)
        info = self._pool.cached_object_info(url)
        if entry is None or info is None:
            return entry is None
        known = self._runnable.get((job.id, url))
        if known is None or known[0] != id(info):
            try:
                check_against(entry.record.prompt or {}, info)
                known = (id(info), True)
            except PromptRejected:
                known = (id(info), False)
            self._runnable[(job.id, url)] = known
        return known[1]

    def _expected(self, job: QueuedJob, url: str) -> float | None:
        """Seconds ``job`` should run on ``url``; for a job running there, the seconds it
        has left."""
        expected = self._speeds.seconds(url, self._work(job))
        entry = self._active.get(job.id)
        if expected is None or entry is None or entry.ran_from is None or job.backend != url:
            return expected
        return max(expected - (time.monotonic() - entry.ran_from), 0.0)

    def _work(self, job: QueuedJob) -> int:
        """Its sampler steps (a job of another process: one)."""
        entry = self._active.get(job.id)
        return entry.work if entry is not None else 1

    def _launch(self, entry: _ActiveJob, url: str) -> None:
        record = entry.record
        entry.pool = self._pool
        record.backend, record.prompt_id = url, str(uuid.uuid4())
        record.client_id = self._pool.client_id
        entry.task = asyncio.create_task(self._run(entry), name=f"comfyui-pipe-job-{record.id}")

    async def _run(self, entry: _ActiveJob) -> None:
        """Queue a dispatched job on its server, then follow it."""
        record, pool = entry.record, entry.pool
        assert pool is not None and record.backend is not None
        try:
            if not await write_record(self._store, record):
                raise _NoLongerOurs()
            entry.server = server = await pool.server(record.backend)
            try:
                entry.job = await submit(server, record.prompt or {}, record.prompt_id)
            except ComfyError as error:
                if not briefly_unavailable(error):
                    raise
                pool.mark_down(record.backend)
                await self._requeue(entry)
                return
            if entry.job.prompt_id != record.prompt_id:
                # An old server chose its own id.
                record.prompt_id = entry.job.prompt_id
                await write_record(self._store, record)
        except _NoLongerOurs:
            await self._let_go(entry)
            return
        except UserError as error:
            record.state, record.error = JobState.FAILED, str(for_user(error))
            await self._finish(entry, [])
            return
        except asyncio.CancelledError:
            await self._hand_over(entry)
            raise
        await self._follow(entry)

    async def _requeue(self, entry: _ActiveJob) -> None:
        """Back into our queue: its server died or forgot it before running it."""
        record = entry.record
        if entry.pinned:
            record.state, record.error = JobState.FAILED, str(JobLost(record.prompt_id or ""))
            await self._finish(entry, [])
            return
        record.backend = record.prompt_id = record.client_id = None
        record.state = JobState.QUEUED
        entry.job = entry.server = entry.task = None
        entry.position = None
        entry.tracker = ProgressTracker(record.prompt or {})
        if not await write_record(self._store, record):
            await self._let_go(entry)
            return
        self._wake.set()

    async def _move_off_dead_servers(self) -> None:
        """A job still pending on a server that stopped answering goes back to our queue."""
        pending: dict[ComfyServer, list[Job]] = {}
        for entry in self._active.values():
            server, job = entry.server, entry.job
            if job is None or server is None or server.stream.connected.is_set():
                continue
            if not entry.tracker.snapshot().started:
                pending.setdefault(server, []).append(job)
        for server, jobs in pending.items():
            try:
                await server.client.queue()
            except ComfyUnreachable:
                self._pool.mark_down(server.client.base_url)
                for job in jobs:
                    job.lose()
            except ComfyError:
                continue

    # -- following -------------------------------------------------------------------------

    async def _follow(self, entry: _ActiveJob) -> None:
        record, job, server = entry.record, entry.job, entry.server
        assert job is not None and server is not None
        files: list[StoredFile] = []
        try:
            if entry.cancel_requested:
                await job.cancel()
            try:
                async with asyncio.timeout(max(self._time_left(entry), 0.001)):
                    await self._track(entry, job)
                    result = await job.result()
                entry.left_server = True
                self._wake.set()  # its server can take the next job while we store this one
                if entry.ran_from is not None and record.backend is not None:
                    ran = time.monotonic() - entry.ran_from
                    rate = entry.tracker.seconds_per_step
                    self._speeds.observe(record.backend, ran, entry.work, rate)
            except TimeoutError:
                await job.cancel()
                raise JobTimedOut(job.prompt_id, self._policy.job_timeout) from None
            files = await self._outputs.store(record, server, result, adopted=entry.adopted)
            record.state, record.output_file_ids = JobState.COMPLETED, [f.id for f in files]
        except JobLost as error:
            if record.state is JobState.QUEUED and not entry.cancel_requested:
                await self._requeue(entry)
                return
            record.state, record.error = JobState.FAILED, str(error)
        except JobInterrupted as error:
            record.state, record.error = JobState.CANCELLED, str(error)
        except UserError as error:
            record.state, record.error = JobState.FAILED, str(for_user(error))
        except _NoLongerOurs:
            await job.abandon()
            await self._let_go(entry)
            return
        except asyncio.CancelledError:
            if not self._policy.cancel_on_shutdown:
                await self._hand_over(entry)
                raise
            cancelling = asyncio.ensure_future(job.cancel())
            await asyncio.wait([cancelling], timeout=server.timeouts.cancel)
            record.state, record.error = JobState.CANCELLED, SHUTDOWN_MESSAGE
        except Exception:
            logger.exception("generation %s failed", record.id)
            record.state, record.error = JobState.FAILED, "The generation failed unexpectedly."
        await self._finish(entry, files)

    async def _track(self, entry: _ActiveJob, job: Job) -> None:
        """Follow the job's events until it settles. The record is written when the job
        starts, and its progress every ``Policy.progress_save_every`` seconds if set;
        its events go on meanwhile (a write may wait behind many others), and each write
        is done before the next one, or before the job's outputs are claimed."""
        last_saved = time.monotonic()
        saving: asyncio.Future[bool] | None = None
        async for update in job.events():
            entry.tracker.feed(update)
            started = self._publish(entry)
            if started:
                entry.ran_from = time.monotonic()
            every, now = self._policy.progress_save_every, time.monotonic()
            if started or (every > 0 and now - last_saved >= every):
                last_saved = now
                entry.record.progress = progress_summary(self._snapshot(entry))
                if saving is not None and not await saving:
                    raise _NoLongerOurs()
                saving = asyncio.ensure_future(write_record(self._store, entry.record))
        if saving is not None and not await saving:
            raise _NoLongerOurs()

    def _publish(self, entry: _ActiveJob) -> bool:
        """Pass the tracker's snapshot on; True when the job has just started running."""
        record = entry.record
        if entry.relay is not None:
            entry.relay.push(self._snapshot(entry))
        if entry.tracker.started and record.state is JobState.QUEUED:
            record.state, record.started_at = JobState.RUNNING, time.time()
            return True
        return False

    def _snapshot(self, entry: _ActiveJob) -> ProgressSnapshot:
        snapshot = entry.tracker.snapshot()
        if not self._policy.previews and snapshot.preview is not None:
            return replace(snapshot, preview=None)
        return snapshot

    def live(self, job_id: str) -> JobRecord | None:
        """A copy of the record of a job this process follows, with its progress now."""
        entry = self._active.get(job_id)
        if entry is None:
            return None
        return replace(entry.record, progress=progress_summary(self._snapshot(entry)))

    # -- ending ----------------------------------------------------------------------------

    async def _finish(self, entry: _ActiveJob, files: list[StoredFile]) -> None:
        """End the job: its last progress, its terminal record written (compare-and-set,
        retried), then the stored files the record does not keep discarded (all of them
        unless it completed here, or another process delivered them)."""
        record = entry.record
        entry.tracker.finish(_FINAL_STAGES[record.state])
        self._publish(entry)
        record.progress = progress_summary(self._snapshot(entry))
        if entry.relay is not None:
            await entry.relay.close()
        record.finished_at = time.time()
        claimed = record.claimed_file_ids
        if not await write_record(self._store, record, final=True):
            files = []
            await self._take_stored(record)
        kept = record.keeps(claimed)
        await self._outputs.discard([file_id for file_id in claimed if file_id not in kept])
        self._end(entry)
        if entry.adopted and self._delivery is not None and record.state.terminal:
            try:
                await self._delivery.finished(record, files)
            except Exception:
                logger.exception("delivering adopted generation %s", record.id)

    async def _let_go(self, entry: _ActiveJob) -> None:
        """Stop following a job another process ended or owns now; keep what it stored."""
        if entry.relay is not None:
            await entry.relay.close()
        await self._take_stored(entry.record)
        self._end(entry)

    async def _hand_over(self, entry: _ActiveJob) -> None:
        """This process stops: the job stays as it is for the next one to adopt."""
        entry.handed_over = True
        if entry.job is not None:
            await entry.job.abandon()
        if entry.relay is not None:
            await entry.relay.close()
        self._end(entry)

    def _end(self, entry: _ActiveJob) -> None:
        self._active.pop(entry.record.id, None)
        for key in [key for key in self._runnable if key[0] == entry.record.id]:
            del self._runnable[key]
        entry.ended.set()
        if not entry.left_server:  # one that left has woken the dispatcher then
            self._wake.set()

    async def _take_stored(self, record: JobRecord) -> None:
        """Make ``record`` (the object callers hold) what the store says."""
        try:
            stored = await self._store.get(record.id)
        except Exception:
            logger.exception("reading generation %s", record.id)
            return
        if stored is not None:
            for name in (f.name for f in fields(JobRecord)):
                setattr(record, name, getattr(stored, name))

    def _time_left(self, entry: _ActiveJob) -> float:
        """Seconds of the job's timeout left; the time waited in our queue counts."""
        return self._policy.job_timeout - (time.time() - entry.record.created_at)

    # -- leases and adoption ---------------------------------------------------------------

    async def _supervise(self) -> None:
        """Keep this process's lease; adopt the jobs of processes that lost theirs; look
        at adopted jobs on ComfyUI (their events may not reach this process)."""
        assert self._leases is not None
        while True:
            times = self._lease_times
            try:
                now = time.time()
                await self._leases.heartbeat(self.worker_id, now)
                live = await self._leases.live_workers(now - times.expiry)
                for job in orphans(await self._store.unfinished(), live | {self.worker_id}):
                    if job.id not in self._active and await self._store.adopt(
                        job.id, job.worker_id, self.worker_id
                    ):
                        await self._adopt(job.id)
                for entry in list(self._active.values()):
                    if entry.adopted and entry.job is not None:
                        await entry.job.reconcile()
            except Exception:
                logger.exception("keeping the lease and adopting generations")
            await asyncio.sleep(times.heartbeat)

    async def _adopt(self, job_id: str) -> None:
        """Carry on with a job this process now owns: back in our queue, or followed on
        its server (its outputs are delivered if it finished meanwhile; a job ComfyUI
        no longer knows fails with a sentence)."""
        record = await self._store.get(job_id)
        if record is None or record.state.terminal or record.worker_id != self.worker_id:
            return
        logger.info("adopting generation %s", record.id)
        on_progress = await self._delivery.progress(record) if self._delivery else None
        entry = self._enter(record, on_progress, adopted=True)
        if not record.dispatched:
            self._wake.set()
            return
        entry.pool = self._pool
        assert record.backend is not None and record.prompt_id is not None
        try:
            entry.server = await self._pool.server(record.backend, record.client_id)
        except KeyError:
            record.state, record.error = JobState.FAILED, GONE_BACKEND_MESSAGE
            await self._finish(entry, [])
            return
        entry.job = entry.server.adopt(record.prompt_id)
        entry.task = asyncio.create_task(self._follow(entry), name=f"comfyui-pipe-job-{job_id}")

    async def _retire(self, pool: BackendPool) -> None:
        users = [entry for entry in self._active.values() if entry.pool is pool]
        await asyncio.gather(*(entry.ended.wait() for entry in users))
        self._owned.discard(pool)
        await pool.aclose()
