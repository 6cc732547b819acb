"""The generation service: validate a request, run it on a backend, keep its record.

``start()`` validates and queues, raising before anything is queued when the
request cannot be served; a task then follows the job to its outputs. Every
outcome of that task is written to the job's record, never raised.

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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self

from comfyui_pipe.comfy import ComfyError, ComfyServer, Job, JobInterrupted, JobResult, JobTimedOut
from comfyui_pipe.errors import UserError
from comfyui_pipe.progress import ProgressTracker, Stage
from comfyui_pipe.workflow import GenerationParams, PreparedPrompt, Workflow

from .backends import BackendHealth, BackendPool
from .errors import JobNotFound, OutputNotStored, TooManyJobs, UnknownWorkflow, for_user
from .limits import Limits
from .prepare import apply, check_workflow, generation_metadata, prepare, submit
from .progress_relay import ProgressCallback, ProgressRelay, progress_summary
from .records import JobRecord, JobState, JobStore
from .request import GenerationRequest, InputImage
from .sink import OutputSink
from .validation import validated_params

# Where the chat imports the request types from.
__all__ = ["GenerationRequest", "GenerationService", "InputImage", "Policy"]

logger = logging.getLogger(__name__)

PERSIST_PROGRESS_EVERY = 2.0
"""Seconds between progress writes to the store; a change of state is written at once."""
SHUTDOWN_MESSAGE = "The generation was stopped because the server shut down."


@dataclass(frozen=True)
class Policy:
    limits: Limits = field(default_factory=Limits)
    jobs_per_user: int = 2
    job_timeout: float = 900.0
    previews: bool = True


_FINAL_STAGES = {
    JobState.QUEUED: Stage.CANCELLED,
    JobState.RUNNING: Stage.CANCELLED,
    JobState.COMPLETED: Stage.DONE,
    JobState.FAILED: Stage.FAILED,
    JobState.CANCELLED: Stage.CANCELLED,
}


@dataclass(eq=False)
class _ActiveJob:
    record: JobRecord
    pool: BackendPool
    policy: Policy
    job: Job | None = None
    task: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class GenerationService:
    """``async with GenerationService(pool, workflows, store, sink) as service: ...``

    The service owns ``pool`` (and every pool given to :meth:`reconfigure`)
    unless ``owns_pool`` is false: it closes them when they are no longer used.
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
    ) -> None:
        self._pool = pool
        self._workflows = dict(workflows)
        self._store = store
        self._sink = sink
        self._policy = policy or Policy()
        self._owns_pools = owns_pool
        self._owned: set[BackendPool] = {pool} if owns_pool else set()
        self._active: dict[str, _ActiveJob] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop following every job (cancelling it on ComfyUI) and close owned pools."""
        tasks = [entry.task for entry in self._active.values() if entry.task is not None]
        tasks += list(self._retiring)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
    ) -> None:
        """New jobs use the new values; jobs in flight finish on the pool they
        started on, which is closed once the last of them has ended."""
        if policy is not None:
            self._policy = policy
        if workflows is not None:
            self._workflows = dict(workflows)
        if pool is not None and pool is not self._pool:
            old, self._pool = self._pool, pool
            if self._owns_pools:
                self._owned.add(pool)
                task = asyncio.create_task(self._retire(old), name="comfyui-pipe-retire-pool")
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)

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
        """Validate and queue ``request``; the returned record is kept up to date.

        Raises a :class:`UserError` (``RequestError`` & co., ``PromptRejected``,
        ``ComfyUIUnavailable``) with nothing left queued. A request refused before
        ComfyUI is asked leaves no record; one ComfyUI refuses leaves it failed.
        ``on_progress(record, snapshot)`` gets the latest snapshot each time it is free
        (a slow callback skips intermediate ones).
        """
        # A refused request leaves no record: everything checkable here is checked first.
        workflow = self._workflows.get(request.workflow_id)
        if workflow is None:
            raise UnknownWorkflow(request.workflow_id, self._workflows)
        policy = self._policy
        already = self.running(request.owner_id)
        if already >= policy.jobs_per_user:
            raise TooManyJobs(already, policy.jobs_per_user)
        params = validated_params(workflow, request, policy.limits)
        record = JobRecord(
            id=uuid.uuid4().hex,
            owner_id=request.owner_id,
            workflow_id=request.workflow_id,
            params={"prompt": request.prompt},
            state=JobState.QUEUED,
            created_at=time.time(),
            chat_id=request.chat_id,
            message_id=request.message_id,
        )
        entry = _ActiveJob(record, self._pool, policy)
        self._active[record.id] = entry
        try:
            await self._store.create(record)
            server, prepared = await self._queue(entry, workflow, request, params)
        except BaseException as error:
            self._end(entry)
            await self._fail_unqueued(record, error)
            shown = for_user(error) if isinstance(error, UserError) else error
            if shown is not error:
                raise shown from error
            raise
        entry.task = asyncio.create_task(
            self._follow(entry, server, workflow, prepared, on_progress),
            name=f"comfyui-pipe-job-{record.id}",
        )
        return record

    async def wait(self, job_id: str) -> JobRecord:
        """The job's terminal record (for a job of this process; otherwise its stored record)."""
        entry = self._active.get(job_id)
        if entry is None:
            return await self._stored(job_id)
        # Bounded: the job task ends by its job timeout, then downloads with HTTP timeouts.
        await asyncio.shield(entry.ended.wait())
        return entry.record

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel exactly this job, here or (for another worker's job) on its backend."""
        entry = self._active.get(job_id)
        if entry is None:
            return await self._cancel_elsewhere(await self._stored(job_id))
        entry.cancel_requested = True
        if entry.job is not None:
            await entry.job.cancel()
        if entry.task is not None:
            await asyncio.wait([entry.task], timeout=entry.pool.timeouts.cancel)
        return entry.record

    # -- starting --------------------------------------------------------------------------

    async def _queue(
        self,
        entry: _ActiveJob,
        workflow: Workflow,
        request: GenerationRequest,
        params: GenerationParams,
    ) -> tuple[ComfyServer, PreparedPrompt]:
        async with entry.pool.acquire() as server:
            prepared = await prepare(entry.pool, server, workflow, params)
            if request.images:
                names = [
                    (await server.client.upload_image(image.data, image.filename)).reference
                    for image in request.images
                ]
                uploaded = replace(params, images=tuple(names), seed=prepared.applied.get("seed"))
                object_info = await entry.pool.object_info(server)
                prepared = apply(workflow, uploaded, object_info)
            entry.job = await submit(server, prepared.graph)
        return server, prepared

    async def _fail_unqueued(self, record: JobRecord, error: BaseException) -> None:
        if isinstance(error, asyncio.CancelledError):
            record.state, record.error = JobState.CANCELLED, "The generation was cancelled."
        else:
            record.state = JobState.FAILED
            record.error = (
                str(for_user(error))
                if isinstance(error, UserError)
                else "The generation could not be started."
            )
        record.finished_at = time.time()
        await self._save(record)

    # -- following -------------------------------------------------------------------------

    async def _follow(
        self,
        entry: _ActiveJob,
        server: ComfyServer,
        workflow: Workflow,
        prepared: PreparedPrompt,
        on_progress: ProgressCallback | None,
    ) -> None:
        record, job = entry.record, entry.job
        assert job is not None
        record.backend, record.prompt_id = server.client.base_url, job.prompt_id
        record.params = generation_metadata(workflow, prepared)
        tracker = ProgressTracker(prepared.graph)
        relay = ProgressRelay(record, on_progress) if on_progress else None
        try:
            await self._save(record)
            if entry.cancel_requested:
                await job.cancel()
            try:
                async with asyncio.timeout(entry.policy.job_timeout):
                    await self._track(entry, job, tracker, relay)
                    result = await job.result()
            except TimeoutError:
                await job.cancel()
                raise JobTimedOut(job.prompt_id, entry.policy.job_timeout) from None
            await self._store_outputs(record, server, result)
            record.state = JobState.COMPLETED
        except JobInterrupted as error:
            record.state, record.error = JobState.CANCELLED, str(error)
        except UserError as error:
            record.state, record.error = JobState.FAILED, str(for_user(error))
        except asyncio.CancelledError:
            # The service is closing: nobody will collect this job's outputs.
            cancelling = asyncio.ensure_future(job.cancel())
            await asyncio.wait([cancelling], timeout=entry.pool.timeouts.cancel)
            record.state, record.error = JobState.CANCELLED, SHUTDOWN_MESSAGE
        except Exception:
            logger.exception("generation %s failed", record.id)
            record.state, record.error = JobState.FAILED, "The generation failed unexpectedly."
        finally:
            tracker.finish(_FINAL_STAGES[record.state])
            self._publish(entry, tracker, relay)
            if relay is not None:
                await relay.close()
            record.finished_at = time.time()
            await self._save(record)
            self._end(entry)

    async def _track(
        self, entry: _ActiveJob, job: Job, tracker: ProgressTracker, relay: ProgressRelay | None
    ) -> None:
        """Follow the job's events until it settles. The record is written when the job
        starts, and its progress at most every ``PERSIST_PROGRESS_EVERY`` seconds."""
        record = entry.record
        last_saved = time.monotonic()
        async for update in job.events():
            tracker.feed(update)
            started = self._publish(entry, tracker, relay)
            now = time.monotonic()
            if started or now - last_saved >= PERSIST_PROGRESS_EVERY:
                last_saved = now
                await self._save(record)

    def _publish(
        self, entry: _ActiveJob, tracker: ProgressTracker, relay: ProgressRelay | None
    ) -> bool:
        """Put the tracker's snapshot on the record and pass it on; True when it shows
        that the job has just started running."""
        record = entry.record
        snapshot = tracker.snapshot()
        if not entry.policy.previews and snapshot.preview is not None:
            snapshot = replace(snapshot, preview=None)
        record.progress = progress_summary(snapshot)
        if relay is not None:
            relay.push(snapshot)
        if snapshot.started and record.state is JobState.QUEUED:
            record.state, record.started_at = JobState.RUNNING, time.time()
            return True
        return False

    async def _store_outputs(
        self, record: JobRecord, server: ComfyServer, result: JobResult
    ) -> None:
        saved = [ref for ref in result.outputs if ref.type == "output"] or result.outputs
        for ref in saved:
            async with server.client.stream_output(ref) as chunks:
                try:
                    stored = await self._sink.save(record, ref, chunks, dict(record.params))
                except UserError:
                    raise
                except Exception as error:
                    logger.exception("storing %s of generation %s", ref.filename, record.id)
                    raise OutputNotStored(
                        ref.filename, str(error) or type(error).__name__
                    ) from error
            record.output_file_ids.append(stored.id)

    # -- bookkeeping -----------------------------------------------------------------------

    def _end(self, entry: _ActiveJob) -> None:
        self._active.pop(entry.record.id, None)
        entry.ended.set()

    async def _save(self, record: JobRecord) -> None:
        """Write ``record``; a failing store is logged, never fatal to the job."""
        try:
            await asyncio.shield(self._store.update(record))
        except Exception:
            logger.exception("saving generation %s", record.id)

    async def _stored(self, job_id: str) -> JobRecord:
        record = await self._store.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    async def _cancel_elsewhere(self, record: JobRecord) -> JobRecord:
        """A job another worker follows: cancel it on its backend by prompt id."""
        if record.state.terminal:
            return record
        if record.backend and record.prompt_id:
            try:
                await self._pool.cancel(record.backend, record.prompt_id)
            except ComfyError as error:
                raise for_user(error) from error
        record.state, record.error = JobState.CANCELLED, "The generation was cancelled."
        record.finished_at = time.time()
        await self._store.update(record)
        return record

    async def _retire(self, pool: BackendPool) -> None:
        users = [entry for entry in self._active.values() if entry.pool is pool]
        await asyncio.gather(*(entry.ended.wait() for entry in users))
        self._owned.discard(pool)
        await pool.aclose()
