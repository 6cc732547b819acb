"""One submitted prompt, followed from the queue to its end.

A job settles exactly once, from whichever source knows first: its own events on
the stream, a reconciliation after a reconnect (queue → history → jobs API), or a
cancellation. It hands each of its events, and its place in the queue while it
waits, to its listener as they come (synchronously, from the task that reads them),
and its outcome once (``outcome()``). How long a job may take is for the caller to
decide; what the events mean to a user too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ComfyError
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
from .followed import FollowedPrompt, JobListener
from .outcome import Ending, JobOutcome, NodeFailure
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
    """Seconds. ``connect`` bounds opening the socket and each HTTP call; ``history``
    bounds the wait for the history entry after the end of a run; ``cancel`` bounds
    the wait for an interrupted job to stop."""

    connect: float = 10.0
    history: float = 15.0
    cancel: float = 15.0


class Job(FollowedPrompt):
    """Created by ``ComfyServer.submit`` (or ``adopt``); its outcome is ``outcome()``."""

    def __init__(
        self,
        prompt_id: str,
        *,
        client: ComfyClient,
        subscription: Subscription,
        timeouts: JobTimeouts,
        request_queue_refresh: Callable[[], None],
        listener: JobListener | None = None,
    ) -> None:
        super().__init__(prompt_id, listener, "comfy-job")
        self._client = client
        self._subscription = subscription
        self._timeouts = timeouts
        self._request_queue_refresh = request_queue_refresh
        self._started_at = time.monotonic()
        self._started = False
        self._saw_run_start = False
        self._seen_outputs: dict[str, dict[str, Any]] = {}

    @property
    def started(self) -> bool:
        """Whether ComfyUI has started running it (it left the server's queue)."""
        return self._started

    @property
    def waiting_in_queue(self) -> bool:
        return not self._started and not self._outcome.done()

    @property
    def elapsed(self) -> float:
        """Seconds since it was submitted (or adopted) here."""
        return time.monotonic() - self._started_at

    async def cancel(self) -> None:
        """Cancel exactly this job on the server; a no-op once it has ended. Its outcome is
        ``INTERRUPTED`` unless it ended otherwise first."""
        if self._outcome.done():
            return
        await self._stop_on_server()
        self._settle(self._ended(Ending.INTERRUPTED))
        await asyncio.wait([self._runner], timeout=self._timeouts.cancel)

    def set_queue_position(self, queue: QueueSnapshot) -> None:
        position = queue.position(self.prompt_id)
        if position is not None and self.waiting_in_queue:
            self._tell(QueuePosition(self.prompt_id, position, queue.total))

    async def confirm_gone(self) -> None:
        """Called when the server's queue no longer lists the job though it has not
        started: on an unbroken socket that means deleted while pending (a cancel sent
        by another process, or ComfyUI's own queue editing), or over already."""
        if not self.waiting_in_queue or self._subscription.missed_events:
            return  # started meanwhile, or a reconnect's reconcile decides
        try:
            await self._settle_from_server(unknown=Ending.INTERRUPTED)
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
            await self._settle_from_server(unknown=Ending.LOST)
        except ComfyError as error:
            # The server went away again; the next reconnect reconciles anew.
            logger.info("reconciling %s failed: %s", self.prompt_id, error)

    async def _settle_from_server(self, unknown: Ending) -> None:
        """Settle from what the server kept of the job: its history (else jobs-API)
        entry once it is over, ``unknown`` when the server does not know it; nothing
        while it is unfinished. Raises ``ComfyError`` when the server does not answer."""
        entry = await self._client.history(self.prompt_id)
        if not entry:
            entry = _history_from_job(await self._client.job(self.prompt_id))
        if entry:
            self._settle(self._outcome_from_history(entry))
        elif entry is None:
            self._settle(self._ended(unknown))

    def _stopped(self) -> None:
        self._subscription.close()

    def _note(self, event: Event) -> None:
        """Keep what the job itself needs of ``event``, then pass it on."""
        if isinstance(event, ExecutionStart | Executing):
            self._started = True
            self._saw_run_start |= isinstance(event, ExecutionStart)
        elif isinstance(event, Status) and self.waiting_in_queue:
            self._request_queue_refresh()
        elif isinstance(event, Executed):
            self._seen_outputs[event.node] = event.output
        self._tell(event)

    async def _follow(self) -> None:
        async for event in self._subscription:
            self._note(event)
            if not is_terminal(event):
                continue
            if isinstance(event, ExecutionInterrupted):
                self._settle(self._ended(Ending.INTERRUPTED))
                return
            await self._wait_history_written()
            if isinstance(event, ExecutionError):
                self._settle(self._failed(event))
            elif isinstance(event, ExecutionSuccess):
                self._settle(self._outcome_from_events() or await self._collect())
            return

    async def _wait_history_written(self) -> None:
        """ComfyUI writes history before it sends ``executing {node: null}``."""
        try:
            async with asyncio.timeout(self._timeouts.history):
                async for event in self._subscription:
                    self._note(event)
                    if isinstance(event, Executing) and event.node is None:
                        return
        except TimeoutError:
            logger.info("no end of run from %s; reading history anyway", self.prompt_id)

    def _outcome_from_events(self) -> JobOutcome | None:
        """The outputs of a run whose every event reached us (``executed`` comes for
        each output node, cached ones included); None when some may be missing."""
        complete = self._saw_run_start and not self._subscription.missed_events
        outputs = self._outputs_seen() if complete else []
        return self._succeeded(outputs) if outputs else None

    async def _collect(self) -> JobOutcome:
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
        except ComfyError as error:
            logger.info("reading the history of %s: %s", self.prompt_id, error)
        return self._outcome_from_history(entry or {})

    def _outcome_from_history(self, entry: Mapping[str, Any]) -> JobOutcome:
        ending = _terminal_message(entry)
        if ending is not None:
            kind, data = ending
            if kind == "execution_interrupted":
                return self._ended(Ending.INTERRUPTED)
            if kind == "execution_error":
                return self._failed(ExecutionError.from_data(self.prompt_id, data))
        return self._succeeded(outputs_from_history(entry) or self._outputs_seen())

    def _outputs_seen(self) -> list[OutputRef]:
        return [
            ref
            for node_id, output in self._seen_outputs.items()
            for ref in outputs_from_executed(output, node_id)
        ]

    def _failed(self, event: ExecutionError) -> JobOutcome:
        failure = NodeFailure(
            event.node_id, event.node_type, event.exception_type, event.exception_message
        )
        return JobOutcome(self.prompt_id, Ending.FAILED, failure=failure)

    def _succeeded(self, outputs: list[OutputRef]) -> JobOutcome:
        if not outputs:
            return self._ended(Ending.NO_OUTPUT)
        return JobOutcome(self.prompt_id, Ending.SUCCEEDED, tuple(in_node_order(outputs)))

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
                        else self._ended(Ending.INTERRUPTED)
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
