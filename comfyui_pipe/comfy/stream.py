"""One persistent WebSocket per ComfyUI server, shared by every job on it.

ComfyUI sends a prompt's lifecycle events only to the socket whose clientId
posted it, and keeps one socket per clientId. So a server gets exactly one
``EventStream``; jobs ``subscribe(prompt_id)`` *before* posting their prompt
and read their own events from the subscription.

The stream reconnects on its own (exponential backoff) and watches for
silence: ComfyUI has a bug where the handler of a replaced socket unregisters
its successor, which then hears nothing at all. Events sent while no socket
was registered are gone for good, so after every reconnect the registered
listeners are called to reconcile what they were waiting for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from .errors import ComfyUnreachable
from .events import (
    Event,
    Executed,
    Executing,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    FeatureFlags,
    Preview,
    Progress,
    Status,
    Text,
    is_terminal,
    parse_binary_frame,
    parse_text_frame,
)

if TYPE_CHECKING:
    from .client import ComfyClient

logger = logging.getLogger(__name__)

ReconnectListener = Callable[[], Coroutine[Any, Any, None]]

MAX_FRAME_BYTES = 64 * 2**20
"""The largest WebSocket frame taken from ComfyUI (a preview is kilobytes, an ``executed``
message listing a batch's files tens of kilobytes)."""
MAX_QUEUED_UPDATES = 1024
"""Events of one prompt waiting to be read before those that can be missed are dropped."""
MAX_QUEUED_EVENTS = 16 * MAX_QUEUED_UPDATES
"""... and before any is: the job then reads its outcome from the server's history."""
MAX_QUEUED_PREVIEW_BYTES = 64 * 2**20
"""Preview images of one prompt waiting to be read before newer ones are dropped."""
_FEATURE_FLAGS = json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
_CLOSED = object()
_OUTCOME_EVENTS = (
    ExecutionStart,
    ExecutionCached,
    Executed,
    ExecutionSuccess,
    ExecutionError,
    ExecutionInterrupted,
)


def _ending(event: Event) -> bool:
    """Whether ``event`` ends its prompt's run (kept whatever else was dropped)."""
    return is_terminal(event) or (isinstance(event, Executing) and event.node is None)


def _essential(event: Event) -> bool:
    """Whether a job's outcome depends on ``event`` (the others are superseded by later
    ones, or say nothing a job needs)."""
    if isinstance(event, Executing):
        return event.node is None
    return isinstance(event, _OUTCOME_EVENTS)


class Subscription:
    """The events of one prompt, in arrival order; iterate with ``async for``.

    A slow reader never stalls the socket, and a flooding server never makes it hold
    more than ``MAX_QUEUED_UPDATES`` of a prompt's events: past that, the events a job
    can miss (steps, previews, queue status, each superseded by the next) are dropped,
    and previews past ``MAX_QUEUED_PREVIEW_BYTES``; past ``MAX_QUEUED_EVENTS`` any
    event but the one ending the run is, and the subscription counts as having missed
    events (the job then reads its outcome from the server's history).
    """

    def __init__(self, prompt_id: str, on_close: Callable[[Subscription], None]) -> None:
        self.prompt_id = prompt_id
        self._queue: asyncio.Queue[Event | object] = asyncio.Queue()
        self._on_close = on_close
        self.closed = False
        self.missed_events = False
        """The socket was down at some point while subscribed: events may be missing."""
        self.dropped = 0
        """Events dropped because the reader fell behind."""
        self._preview_bytes = 0

    def put(self, event: Event) -> None:
        if self.closed:
            return
        queued = self._queue.qsize()
        if queued >= MAX_QUEUED_EVENTS and not _ending(event):
            self.missed_events = True
        elif isinstance(event, Preview) and (
            self._preview_bytes + len(event.image) > MAX_QUEUED_PREVIEW_BYTES
        ):
            pass
        elif queued < MAX_QUEUED_UPDATES or _essential(event):
            self._preview_bytes += len(event.image) if isinstance(event, Preview) else 0
            self._queue.put_nowait(event)
            return
        self.dropped += 1

    def close(self) -> None:
        """Stop receiving; a reader waiting in ``async for`` finishes its loop."""
        if self.closed:
            return
        self.closed = True
        self._on_close(self)
        self._queue.put_nowait(_CLOSED)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # every later read ends too
            raise StopAsyncIteration
        if isinstance(item, Preview):
            self._preview_bytes -= len(item.image)
        return item  # type: ignore[return-value]


class EventStream:
    """``async with EventStream(client) as stream``: the server's one WebSocket."""

    def __init__(
        self,
        client: ComfyClient,
        *,
        ping_interval: float = 20.0,
        silence_timeout: float = 60.0,
        backoff: tuple[float, float] = (0.2, 10.0),
        open_timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._ping_interval = ping_interval
        self._silence_timeout = silence_timeout
        self._backoff = backoff
        self._open_timeout = open_timeout
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._listeners: list[ReconnectListener] = []
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._executing: str | None = None
        self._quiet_since = time.monotonic()
        self._last_failure = ""
        self._runner: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._down_since = time.monotonic()
        self.connections = 0
        self.server_flags: dict[str, object] = {}

    async def __aenter__(self) -> Self:
        self._runner = asyncio.create_task(self._run(), name="comfy-event-stream")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks = [task for task in (self._runner, *self._listener_tasks) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.connected.clear()
        for subscriptions in list(self._subscriptions.values()):
            for subscription in list(subscriptions):
                subscription.close()

    @property
    def subscribed(self) -> frozenset[str]:
        """The prompt ids someone is listening to."""
        return frozenset(self._subscriptions)

    def subscribe(self, prompt_id: str) -> Subscription:
        """Start collecting the events of ``prompt_id``; do it before posting the prompt."""
        if not self._subscriptions:
            # The silence watchdog only counts time during which someone listens.
            self._quiet_since = time.monotonic()
        subscription = Subscription(prompt_id, self._unsubscribe)
        self._subscriptions.setdefault(prompt_id, []).append(subscription)
        return subscription

    @property
    def down_for(self) -> float:
        """Seconds since the socket was lost (or first asked for); 0 while it is open."""
        return 0.0 if self.connected.is_set() else time.monotonic() - self._down_since

    def add_reconnect_listener(self, listener: ReconnectListener) -> None:
        """``await listener()`` after every reconnect (not after the first connect)."""
        self._listeners.append(listener)

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (raises our own error)
        """Return once the socket is open; ``ComfyUnreachable`` after ``timeout`` s."""
        try:
            async with asyncio.timeout(timeout):
                await self.connected.wait()
        except TimeoutError:
            raise ComfyUnreachable(
                self._client.base_url, self._last_failure or "no WebSocket"
            ) from None

    def _unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscriptions.get(subscription.prompt_id, [])
        if subscription in subscriptions:
            subscriptions.remove(subscription)
        if not subscriptions:
            self._subscriptions.pop(subscription.prompt_id, None)

    async def _run(self) -> None:
        delays = _exponential(*self._backoff)
        while True:
            try:
                async with self._connect() as socket:
                    delays = _exponential(*self._backoff)
                    await self._on_open(socket)
                    await self._read(socket)
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as error:
                self._last_failure = str(error) or type(error).__name__
                logger.info("ComfyUI socket %s: %s", self._client.ws_url, self._last_failure)
            finally:
                if self.connected.is_set():
                    self._down_since = time.monotonic()
                self.connected.clear()
                for subscriptions in self._subscriptions.values():
                    for subscription in subscriptions:
                        subscription.missed_events = True
            # Leaving ``async with`` closed the old socket fully before we open another.
            await asyncio.sleep(next(delays))

    def _connect(self) -> connect:
        return connect(
            self._client.ws_url,
            additional_headers=self._client.headers,
            max_size=MAX_FRAME_BYTES,
            # small JSON and JPEG frames over a LAN: deflating them costs both ends CPU
            compression=None,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_interval,
            open_timeout=self._open_timeout,
            close_timeout=self._open_timeout,
        )

    async def _on_open(self, socket: ClientConnection) -> None:
        await socket.send(_FEATURE_FLAGS)
        self.connections += 1
        self._quiet_since = time.monotonic()
        self._executing = None
        self.connected.set()
        if self.connections > 1:
            for listener in self._listeners:
                task = asyncio.create_task(listener(), name="comfy-reconnect-listener")
                self._listener_tasks.add(task)
                task.add_done_callback(self._listener_done)

    def _listener_done(self, task: asyncio.Task[None]) -> None:
        self._listener_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("reconnect listener failed", exc_info=task.exception())

    async def _read(self, socket: ClientConnection) -> None:
        """Dispatch frames until the socket closes or stays silent too long."""
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel.
                async with asyncio.timeout(self._silence_left()):
                    frame = await socket.recv()
            except TimeoutError:
                if self._subscriptions and self._silence_left() <= 0:
                    logger.warning(
                        "ComfyUI socket silent for %ss; reconnecting", self._silence_timeout
                    )
                    return
                continue
            self._quiet_since = time.monotonic()
            if isinstance(frame, bytes):
                self._dispatch(parse_binary_frame(frame))
            else:
                self._dispatch(parse_text_frame(frame))

    def _silence_left(self) -> float:
        elapsed = time.monotonic() - self._quiet_since
        return (
            max(self._silence_timeout - elapsed, 0.0)
            if self._subscriptions
            else self._silence_timeout
        )

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, Status):
            for subscriptions in list(self._subscriptions.values()):
                for subscription in list(subscriptions):
                    subscription.put(event)
            return
        if isinstance(event, FeatureFlags):
            self.server_flags = dict(event.flags)
            return
        prompt_id = event.prompt_id
        if prompt_id is None and isinstance(event, Preview | Text | Progress | Executing):
            prompt_id = self._executing
        if isinstance(event, ExecutionStart) or (
            isinstance(event, Executing) and event.node is not None
        ):
            self._executing = prompt_id
        for subscription in list(self._subscriptions.get(prompt_id or "", ())):
            subscription.put(event)
        if isinstance(event, Executing) and event.node is None and self._executing == prompt_id:
            self._executing = None


def _exponential(first: float, longest: float) -> Iterator[float]:
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, longest)
