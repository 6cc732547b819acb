"""One job as this process follows it: from our queue to ComfyUI, to its outputs, to its end.

A :class:`JobRun` owns the job's facts while it lives here: its record (changed only
through ``transitions.transition``), whether it has started (its ComfyUI job says),
its deadline (``created_at`` + the job timeout, enforced here only) and its outcome
(the terminal record). The job's events come in synchronously from its ComfyUI job
(:meth:`JobRun.on_update`), feed its tracker and go to its progress relay; its record is
written when dispatched, after it starts (``progress_saves``) and when it ends, in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import replace

from comfyui_pipe.comfy import Backend, ComfyError, FollowedJob, JobOutcome, JobUpdate
from comfyui_pipe.comfy.errors import briefly_unavailable
from comfyui_pipe.comfy.queue import QueuePosition
from comfyui_pipe.errors import PipeError
from comfyui_pipe.progress import ProgressSnapshot, ProgressTracker, Stage
from comfyui_pipe.progress.throttle import ProgressThrottle

from .backends import BackendPool
from .endings import Deliver, after_run
from .failures import Failure, FailureKind, failure_of
from .output_store import kept_outputs, output_file_ids
from .prepare import submit
from .progress_relay import ProgressRelay, ProgressSink
from .progress_saves import ProgressSaves
from .record_writes import RecordWriter, write_record
from .records import JobRecord, JobState, progress_summary, resume_progress
from .run_context import RunContext
from .run_watch import RunWatch
from .shapes import shape_of
from .sink import StoredFile
from .transitions import (
    Cancel,
    Change,
    Claim,
    Complete,
    Delivered,
    Dispatch,
    Fail,
    Rename,
    Requeue,
    SaveProgress,
    Start,
    transition,
)

logger = logging.getLogger(__name__)

_FINAL_STAGES: dict[type[Complete | Fail | Cancel], Stage] = {
    Complete: Stage.DONE,
    Fail: Stage.FAILED,
    Cancel: Stage.CANCELLED,
}


class _NoLongerOurs(Exception):
    """The job's record was ended by another process, or another process owns it now."""


class JobRun:
    """A job this process follows: waiting in our queue, or queued on a server."""

    def __init__(
        self,
        record: JobRecord,
        context: RunContext,
        sink: ProgressSink | None,
        *,
        adopted: bool,
        pinned: bool = False,
    ) -> None:
        policy = context.policy()
        self.record = record
        self.adopted = adopted
        """Its request is gone (it was adopted): nobody waits on it here."""
        self.pinned = pinned
        """Its input images were uploaded to ``record.backend``: it can run only there."""
        self.shape = shape_of(record.workflow_id, record.prompt or {})
        """What the scheduler prices it by: its workflow, steps, size and models."""
        self.pool: BackendPool | None = None
        self.server: Backend | None = None
        self.job: FollowedJob | None = None
        self.task: asyncio.Task[None] | None = None
        self.cancel_requested = False
        self.handed_over = False
        self.ran_from: float | None = None
        """When its server started running it (monotonic), for the servers' costs."""
        self._launched_at = 0.0
        self.left_server = False
        """ComfyUI has finished it (its outputs are being stored): its place there is free."""
        self.ended = asyncio.Event()
        self._context = context
        self._tracker = ProgressTracker(record.prompt or {})
        self._watch = RunWatch(self.shape)
        if adopted:
            resume_progress(self._tracker, record)
        self._position: tuple[int, int] | None = None
        self._writer = RecordWriter(context.store)
        self._saves = ProgressSaves(self._save_progress, context.policy)
        throttle = ProgressThrottle(previews=policy.previews)
        self._relay = ProgressRelay(record, sink, context.lane, throttle) if sink else None

    @property
    def waiting(self) -> bool:
        """In our queue, not being dispatched."""
        return self.task is None and not self.cancel_requested

    @property
    def deadline(self) -> float:
        """When the job is given up (seconds since the epoch); the time in our queue counts."""
        return self.record.created_at + self._context.policy().job_timeout

    def snapshot(self) -> ProgressSnapshot:
        snapshot = self._tracker.snapshot()
        attempt = self.record.attempt
        if attempt == 1:
            return snapshot
        attempts = max(self._context.policy().max_attempts, attempt)
        return replace(snapshot, attempt=attempt, attempts=attempts)

    def live(self) -> JobRecord:
        """Its record with its progress now."""
        return replace(self.record, progress=progress_summary(self.snapshot()))

    def _keep_progress(self) -> JobRecord:
        return self.apply(SaveProgress(progress_summary(self.snapshot())))

    def apply(self, change: Change) -> JobRecord:
        """The one way its record changes."""
        self.record = transition(self.record, change)
        if self._relay is not None:
            self._relay.record = self.record
        return self.record

    # -- in our queue ----------------------------------------------------------------------

    def show_position(self, position: int, total: int) -> None:
        """Its place in our queue (first = next to be sent to a server)."""
        if self._position != (position, total):
            self._position = (position, total)
            self.on_update(QueuePosition(self.record.id, position, total))

    def expect(self, end_at: float, jobs_ahead: int) -> None:
        """When the plan expects it to end (monotonic), and the jobs before it there."""
        self._tracker.expect(end_at, jobs_ahead)
        if self._relay is not None:
            self._relay.offer(self.snapshot())

    def launch(self, pool: BackendPool, url: str) -> None:
        """Send it to ``url``: queued there under a prompt id of our own."""
        self.pool = pool
        self._launched_at = time.monotonic()
        self.apply(Dispatch(url, str(uuid.uuid4()), pool.client_id))
        self.task = asyncio.create_task(self._submit(), name=f"comfyui-pipe-job-{self.record.id}")

    def follow_adopted(self, pool: BackendPool, server: Backend) -> None:
        """Follow a job another process queued on ``server`` (its clientId's socket)."""
        assert self.record.prompt_id is not None
        self.pool, self.server = pool, server
        self.job = server.adopt(self.record.prompt_id, listener=self.on_update)
        self.task = asyncio.create_task(self._follow(), name=f"comfyui-pipe-job-{self.record.id}")

    async def _submit(self) -> None:
        record, pool = self.record, self.pool
        assert pool is not None and record.backend is not None and record.prompt_id is not None
        try:
            if not await self._writer.write(record):
                raise _NoLongerOurs()
            self.server = server = await pool.server(record.backend)
            try:
                self.job = await submit(
                    server, record.prompt or {}, record.prompt_id, self.on_update
                )
                self._context.handoff.posted(time.monotonic() - self._launched_at)
            except ComfyError as error:
                if not briefly_unavailable(error):
                    raise
                pool.mark_down(record.backend)
                await self.requeue()
                return
            if self.job.prompt_id != record.prompt_id:  # an old server chose its own id
                self._writer.write_soon(self.apply(Rename(self.job.prompt_id)))
        except _NoLongerOurs:
            await self.let_go()
            return
        except PipeError as error:
            await self.end(Fail(failure_of(error), time.time()))
            return
        except asyncio.CancelledError:
            await self.hand_over()
            raise
        await self._follow()

    async def requeue(self, ran: bool = False) -> None:
        """Back into our queue: its server was unavailable, or forgot it. One that ``ran``
        is run again as its next attempt (first in the queue, see ``FairTurns``); a job
        whose input images are on its server waits for that one."""
        if self.adopted and ran:  # an earlier owner may have stored some of its outputs
            await self._context.outputs.discard(
                await self._context.outputs.stored_so_far(self.record)
            )
        self.job = self.server = self.task = None
        self._position = self.ran_from = None
        self._tracker = ProgressTracker(self.record.prompt or {})
        self._watch = RunWatch(self.shape)
        self.apply(Requeue(ran=ran, pinned=self.pinned))
        if not await self._writer.write(self._keep_progress()):
            await self.let_go()
            return
        if self._relay is not None:
            self._relay.offer(self.snapshot())
        self._context.wake_dispatcher()

    # -- on ComfyUI ------------------------------------------------------------------------

    def on_update(self, update: JobUpdate) -> None:
        """One of its events (or its place in a queue), as it comes."""
        self._tracker.feed(update)
        self._watch.feed(update)
        snapshot = self.snapshot()
        if self._relay is not None:
            self._relay.offer(snapshot)
        job = self.job
        if job is not None and job.started and self.record.state is JobState.QUEUED:
            self.ran_from = time.monotonic()
            self.apply(Start(time.time()))
            self._saves.started()
        else:
            self._saves.progressed(sampling=snapshot.stage is Stage.SAMPLING)

    def _save_progress(self) -> None:
        if self.record.state is JobState.RUNNING:
            self._writer.write_soon(self._keep_progress())

    async def _follow(self) -> None:
        job, server = self.job, self.server
        assert job is not None and server is not None
        try:
            if self.cancel_requested:
                await job.cancel()
            outcome = await self._outcome(job, server)
            if isinstance(outcome, JobOutcome):
                await self._end_with(outcome, server)
            else:
                await self.end(Fail(outcome, time.time()))
        except _NoLongerOurs:
            await job.abandon()
            await self.let_go()
        except asyncio.CancelledError:
            if not self._context.policy().cancel_on_shutdown:
                await self.hand_over()
                raise
            cancelling = asyncio.ensure_future(job.cancel())
            await asyncio.wait([cancelling], timeout=server.timeouts.cancel)
            await self.end(Cancel(time.time(), failure=Failure(FailureKind.SHUTDOWN)))
        except Exception:
            logger.exception("generation %s failed", self.record.id)
            await self.end(Fail(Failure(FailureKind.UNEXPECTED), time.time()))

    async def _outcome(self, job: FollowedJob, server: Backend) -> JobOutcome | Failure:
        """How it ended on ComfyUI, or why it was given up at its deadline."""
        ending = asyncio.ensure_future(job.outcome())
        disowned = asyncio.ensure_future(self._writer.disowned.wait())
        seconds = max(self.deadline - time.time(), 0.001)
        try:
            await asyncio.wait([ending, disowned], timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            disowned.cancel()
        if ending.done() and await self._writer.settled():
            return ending.result()
        if not ending.done() and not disowned.done():
            connected = server.connected
            await job.cancel()
            if not connected:
                return Failure(FailureKind.UNREACHABLE)
            return Failure(FailureKind.TIMED_OUT, seconds=self._context.policy().job_timeout)
        ending.cancel()
        raise _NoLongerOurs()

    def _left_server(self) -> None:
        self.left_server = True
        self._context.wake_dispatcher()  # its server can take the next job meanwhile
        backend = self.record.backend
        if self.ran_from is not None and backend is not None:
            ran = time.monotonic() - self.ran_from
            observed = self._watch.observed(ran, self._tracker.seconds_per_step)
            self._context.costs.observe(backend, self.shape, observed)

    async def _end_with(self, outcome: JobOutcome, server: Backend) -> None:
        max_attempts = self._context.policy().max_attempts
        cancelled = self.cancel_requested
        match after_run(
            outcome, self.record, cancelled=cancelled, max_attempts=max_attempts, at=time.time()
        ):
            case Deliver():
                await self._deliver(outcome, server)
            case Requeue(ran=ran):
                logger.info("generation %s was lost by its server; queued again", self.record.id)
                await self.requeue(ran=ran)
            case Fail() | Cancel() as change:
                await self.end(change)

    async def _deliver(self, outcome: JobOutcome, server: Backend) -> None:
        """Its outputs into the host's files, exactly once, then its end."""
        self._left_server()
        try:
            outputs = kept_outputs(outcome.outputs)
            self.apply(Claim(output_file_ids(self.record, len(outputs))))
            files = await self._context.outputs.store(
                self.record, server, outputs, adopted=self.adopted
            )
        except PipeError as error:
            await self.end(Fail(failure_of(error), time.time()))
            return
        ids = tuple(file.id for file in files)
        await self.end(Complete(ids, time.time()), files)

    # -- the end ---------------------------------------------------------------------------

    async def cancel(self) -> JobRecord:
        """Cancel it, wherever it is here: in our queue at once, on ComfyUI within the
        cancel timeout."""
        self.cancel_requested = True
        if self.task is None:
            await self.end(Cancel(time.time()))
            return self.record
        if self.job is not None:
            await self.job.cancel()
        timeout = self.pool.timeouts.cancel if self.pool is not None else None
        await asyncio.wait([self.task], timeout=timeout)
        return self.record

    async def end(
        self, change: Complete | Fail | Cancel, files: list[StoredFile] | None = None
    ) -> None:
        """Its terminal record (compare-and-set, retried), then the stored files it does not
        keep discarded (all of them unless it completed here, or another process
        delivered them), then its end shown."""
        delivered = list(files or [])
        if not await self._writer.settled():
            delivered = []
        ended = self._finished(change)
        claimed = ended.claimed_file_ids
        if not await write_record(self._context.store, ended, final=True):
            delivered = []
            ended = await self._writer.stored(self.record.id) or ended
        self.record = ended
        kept = ended.keeps(claimed)
        await self._context.outputs.discard([file_id for file_id in claimed if file_id not in kept])
        shown = await self._relay.close(ended, delivered) if self._relay is not None else True
        if shown and ended.awaits_delivery:
            await self._delivered()
        self._forget()

    async def _delivered(self) -> None:
        try:
            await self._context.store.delivered(self.apply(Delivered()))
        except Exception:
            logger.exception("saving that generation %s was delivered", self.record.id)

    def _finished(self, change: Complete | Fail | Cancel) -> JobRecord:
        self._tracker.finish(_FINAL_STAGES[type(change)])
        return self.apply(replace(change, progress=progress_summary(self.snapshot())))

    async def let_go(self) -> None:
        """Stop following a job another process ended or owns now; keep what it stored."""
        stored = await self._writer.stored(self.record.id)
        if stored is not None and stored.state.terminal:
            self.record = stored
            if self._relay is not None:
                await self._relay.close(stored)
        else:
            self.handed_over = True
            if self._relay is not None:
                await self._relay.abandon()
        self._forget()

    async def hand_over(self) -> None:
        """This process stops: the job stays as it is for the next one to adopt, which
        shows its progress as this one last saw it."""
        self.handed_over = True
        if self.record.state is JobState.RUNNING:
            await self._writer.write(self._keep_progress())
        if self.job is not None:
            await self.job.abandon()
        if self._relay is not None:
            await self._relay.abandon()
        self._forget()

    def _forget(self) -> None:
        self._saves.stop()
        self._context.forget(self.record.id)
        self.ended.set()
