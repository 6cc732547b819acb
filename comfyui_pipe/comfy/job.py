"""One submitted prompt, followed from the queue to its outputs.

A job settles exactly once, from whichever source knows first: its own
events on the stream, a reconciliation after a reconnect (queue → history →
jobs API), a cancellation, or its deadline. It passes its events on as they
come (``events()``) and its outcome once (``result()``); what they mean to a
user is for the caller to make of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import (
    ComfyError,
    ComfyUnreachable,
    ExecutionFailed,
    JobInterrupted,
    JobLost,
    JobTimedOut,
    OutputMissing,
)
from .events import (
    Event,
    Executed,
    Executing,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    Status,
    is_terminal,
)
from .outputs import OutputRef, in_node_order, outputs_from_executed, outputs_from_history
from .queue import QueuePosition, QueueSnapshot
from .stream import Subscription

if TYPE_CHECKING:
    from .client import ComfyClient

logger = logging.getLogger(__name__)

_TERMINAL_MESSAGES = ("execution_success", "execution_error", "execution_interrupted")
_UNFINISHED_JOB_STATES = ("pending", "in_progress")
_HISTORY_POLL_FIRST, _HISTORY_POLL_LONGEST = 0.05, 0.5


@dataclass(frozen=True)
class JobTimeouts:
    """Seconds. ``total`` bounds a whole job, queueing included; ``connect``
    bounds opening the socket and each HTTP call; ``history`` bounds the wait
    for the history entry after the end of a run; ``cancel`` bounds the wait
    for an interrupted job to stop."""

    total: float = 900.0
    connect: float = 10.0
    history: float = 15.0
    cancel: float = 15.0


@dataclass(frozen=True)
class JobResult:
    prompt_id: str
    outputs: list[OutputRef]
    """In node order (see ``outputs.in_node_order``), whichever source told us."""
    elapsed: float


Outcome = JobResult | ComfyError
JobUpdate = Event | QueuePosition


class Job:
    """Created by ``ComfyServer.submit``; read it with ``updates()`` and ``result()``."""

    def __init__(
        self,
        prompt_id: str,
        *,
        client: ComfyClient,
        subscription: Subscription,
        timeouts: JobTimeouts,
        warnings: tuple[str, ...] = (),
        is_connected: Callable[[], bool],
        request_queue_refresh: Callable[[], None],
    ) -> None:
        self.prompt_id = prompt_id
        self.warnings = warnings
        """Sentences for outputs ComfyUI dropped while queueing the rest."""
        self._client = client
        self._subscription = subscription
        self._timeouts = timeouts
        self._is_connected = is_connected
        self._request_queue_refresh = request_queue_refresh
        self._started_at = time.monotonic()
        self._started = False
        self._saw_run_start = False
        self._seen_outputs: dict[str, dict[str, Any]] = {}
        self._outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._updates: asyncio.Queue[JobUpdate | None] = asyncio.Queue()
        self._runner = asyncio.create_task(self._run(), name=f"comfy-job-{prompt_id}")
        self._runner.add_done_callback(_consume_exception)

    @property
    def done(self) -> bool:
        return self._runner.done()

    @property
    def waiting_in_queue(self) -> bool:
        return not self._started and not self._outcome.done()

    def add_done_callback(self, callback: Callable[[Job], None]) -> None:
        self._runner.add_done_callback(lambda _: callback(self))

    async def abandon(self) -> None:
        """Stop following the job here (the server is not told); ``result()`` is cancelled."""
        self._runner.cancel()
        await asyncio.gather(self._runner, return_exceptions=True)

    async def result(self) -> JobResult:
        """The outputs, or the reason there are none as a ``ComfyError``."""
        return await asyncio.shield(self._runner)

    async def events(self) -> AsyncIterator[JobUpdate]:
        """Every event of this prompt in order, and its queue position while it waits;
        ends once the job has settled. For one reader."""
        # Bounded: the runner always ends, by its deadline at the latest.
        while (update := await self._updates.get()) is not None:
            yield update

    async def cancel(self) -> None:
        """Cancel exactly this job on the server; a no-op once it has finished."""
        if self._outcome.done():
            return
        await self._stop_on_server()
        self._settle(JobInterrupted(self.prompt_id))
        await asyncio.wait([self._runner], timeout=self._timeouts.cancel)

    def lose(self) -> None:
        """Give the job up as lost (its server is gone); a no-op once it has finished."""
        self._settle(JobLost(self.prompt_id))

    def set_queue_position(self, queue: QueueSnapshot) -> None:
        position = queue.position(self.prompt_id)
        if position is not None and self.waiting_in_queue:
            self._updates.put_nowait(QueuePosition(self.prompt_id, position, queue.total))

    async def confirm_gone(self) -> None:
        """Called when the server's queue no longer lists the job though it has not
        started: on an unbroken socket that means deleted while pending (a cancel sent
        by another process, or ComfyUI's own queue editing), or over already."""
        if not self.waiting_in_queue or self._subscription.missed_events:
            return  # started meanwhile, or a reconnect's reconcile decides
        try:
            await self._settle_from_server(unknown=JobInterrupted(self.prompt_id))
        except ComfyError as error:
            logger.info("looking for %s after it left the queue: %s", self.prompt_id, error)

    async def reconcile(self) -> None:
        """Find out from the server what happened while its events were lost."""
        if self._outcome.done():
            return
        try:
            queue = await self._client.queue()
            if queue.position(self.prompt_id) is not None:
                self.set_queue_position(queue)
                return
            await self._settle_from_server(unknown=JobLost(self.prompt_id))
        except ComfyError as error:
            # The server went away again; the next reconnect reconciles anew.
            logger.info("reconciling %s failed: %s", self.prompt_id, error)

    async def _settle_from_server(self, unknown: ComfyError) -> None:
        """Settle from what the server kept of the job: its history (else jobs-API)
        entry once it is over, ``unknown`` when the server does not know it; nothing
        while it is unfinished. Raises ``ComfyError`` when the server does not answer."""
        entry = await self._client.history(self.prompt_id)
        if not entry:
            entry = _history_from_job(await self._client.job(self.prompt_id))
        if entry:
            self._settle(self._outcome_from_history(entry))
        elif entry is None:
            self._settle(unknown)

    async def _run(self) -> JobResult:
        follower = asyncio.create_task(self._follow(), name=f"comfy-job-events-{self.prompt_id}")
        try:
            outcome = await self._await_outcome()
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            self._subscription.close()
            self._updates.put_nowait(None)
        if isinstance(outcome, ComfyError):
            raise outcome
        return outcome

    async def _await_outcome(self) -> Outcome:
        try:
            async with asyncio.timeout(self._timeouts.total):
                return await asyncio.shield(self._outcome)
        except TimeoutError:
            connected = self._is_connected()
            await self._stop_on_server()
            if not connected:
                reason = f"no connection when the job's {self._timeouts.total:g} s ran out"
                return ComfyUnreachable(self._client.base_url, reason)
            return JobTimedOut(self.prompt_id, self._timeouts.total)

    def _settle(self, outcome: Outcome) -> None:
        if not self._outcome.done():
            self._outcome.set_result(outcome)

    async def _follow(self) -> None:
        async for event in self._subscription:
            self._updates.put_nowait(event)
            if isinstance(event, ExecutionStart | Executing):
                self._started = True
                self._saw_run_start |= isinstance(event, ExecutionStart)
            elif isinstance(event, Status) and self.waiting_in_queue:
                self._request_queue_refresh()
            elif isinstance(event, Executed):
                self._seen_outputs[event.node] = event.output
            if not is_terminal(event):
                continue
            if isinstance(event, ExecutionInterrupted):
                self._settle(JobInterrupted(self.prompt_id))
                return
            await self._wait_history_written()
            if isinstance(event, ExecutionError):
                self._settle(
                    ExecutionFailed(
                        event.node_id,
                        event.node_type,
                        event.exception_type,
                        event.exception_message,
                    )
                )
            elif isinstance(event, ExecutionSuccess):
                self._settle(self._outcome_from_events() or await self._collect())
            return

    async def _wait_history_written(self) -> None:
        """ComfyUI writes history before it sends ``executing {node: null}``."""
        try:
            async with asyncio.timeout(self._timeouts.history):
                async for event in self._subscription:
                    self._updates.put_nowait(event)
                    if isinstance(event, Executing) and event.node is None:
                        return
        except TimeoutError:
            logger.info("no end of run from %s; reading history anyway", self.prompt_id)

    def _outcome_from_events(self) -> JobResult | None:
        """The outputs of a run whose every event reached us (``executed`` comes for
        each output node, cached ones included); None when some may be missing."""
        complete = self._saw_run_start and not self._subscription.missed_events
        outputs = self._outputs_seen() if complete else []
        return self._result(outputs) if outputs else None

    async def _collect(self) -> Outcome:
        """Outputs from history, polled briefly while it is still ``{}``."""
        delay = _HISTORY_POLL_FIRST
        entry: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(self._timeouts.history):
                while not (entry := await self._client.history(self.prompt_id)):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _HISTORY_POLL_LONGEST)
        except TimeoutError:
            logger.info("no history for %s; using the outputs of its events", self.prompt_id)
        return self._outcome_from_history(entry or {})

    def _outcome_from_history(self, entry: Mapping[str, Any]) -> Outcome:
        ending = _terminal_message(entry)
        if ending is not None:
            kind, data = ending
            if kind == "execution_interrupted":
                return JobInterrupted(self.prompt_id)
            if kind == "execution_error":
                return ExecutionFailed(
                    _str_or_none(data.get("node_id")),
                    _str_or_none(data.get("node_type")),
                    str(data.get("exception_type") or ""),
                    str(data.get("exception_message") or ""),
                )
        outputs = outputs_from_history(entry) or self._outputs_seen()
        if not outputs:
            return OutputMissing(self.prompt_id)
        return self._result(outputs)

    def _outputs_seen(self) -> list[OutputRef]:
        return [
            ref
            for node_id, output in self._seen_outputs.items()
            for ref in outputs_from_executed(output, node_id)
        ]

    def _result(self, outputs: list[OutputRef]) -> JobResult:
        elapsed = time.monotonic() - self._started_at
        return JobResult(self.prompt_id, in_node_order(outputs), elapsed)

    async def _stop_on_server(self) -> None:
        """Cancel on the server and wait, bounded, until the job no longer runs there."""
        try:
            async with asyncio.timeout(self._timeouts.cancel):
                await self._client.cancel(self.prompt_id)
                if (await self._client.queue()).position(self.prompt_id) is None:
                    # Deleted while pending (no event, no history) or already over.
                    entry = await self._client.history(self.prompt_id)
                    self._settle(
                        self._outcome_from_history(entry)
                        if entry
                        else JobInterrupted(self.prompt_id)
                    )
                else:
                    await asyncio.wait([self._outcome])
        except (TimeoutError, ComfyError) as error:
            logger.info("cancelling %s on the server: %s", self.prompt_id, error or "timed out")


def _terminal_message(entry: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    messages = (entry.get("status") or {}).get("messages") or []
    for message in reversed(messages):
        if isinstance(message, list | tuple) and len(message) == 2:
            kind, data = message
            if kind in _TERMINAL_MESSAGES and isinstance(data, Mapping):
                return kind, data
    return None


def _history_from_job(job: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A jobs-API object in history shape; ``{}`` while unfinished, None when unknown."""
    if job is None:
        return None
    state = job.get("status")
    if state in _UNFINISHED_JOB_STATES:
        return {}
    status = dict(job.get("execution_status") or {})
    if not status.get("messages"):
        if state == "cancelled":
            status["messages"] = [["execution_interrupted", {}]]
        elif state == "failed":
            status["messages"] = [["execution_error", dict(job.get("execution_error") or {})]]
    return {"outputs": job.get("outputs") or {}, "status": status}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _consume_exception(task: asyncio.Task[Any]) -> None:
    # A job nobody awaits must not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()
