"""A ComfyUI server as the rest of the package sees it: HTTP client, the one
event stream, and the jobs running on it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Any, Self

from .backend import BackendHealth
from .client import ComfyClient
from .errors import ComfyError
from .followed import JobListener, JobUpdate
from .job import Job, JobTimeouts
from .outputs import OutputRef
from .stream import EventStream, Subscription

__all__ = ["ComfyServer", "Job", "JobListener", "JobTimeouts", "JobUpdate"]

logger = logging.getLogger(__name__)


class ComfyServer:
    """``async with ComfyServer(base_url) as server: job = await server.submit(prompt)``;
    a ``Backend`` (``backend.py``) of the pool."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        *,
        client_id: str | None = None,
        timeouts: JobTimeouts | None = None,
        silence_timeout: float = 60.0,
        ping_interval: float = 20.0,
        backoff: tuple[float, float] = (0.2, 10.0),
        queue_refresh_interval: float = 0.5,
        queue_refresh_delay: float = 0.1,
    ) -> None:
        self.timeouts = timeouts or JobTimeouts()
        self.queue_refresh_interval = queue_refresh_interval
        self.queue_refresh_delay = queue_refresh_delay
        self.client = ComfyClient(
            base_url,
            headers=headers,
            token=token,
            client_id=client_id,
            timeout=self.timeouts.connect,
        )
        self.stream = EventStream(
            self.client,
            ping_interval=ping_interval,
            silence_timeout=silence_timeout,
            backoff=backoff,
            open_timeout=self.timeouts.connect,
        )
        self._jobs: dict[str, Job] = {}
        self._queue_refresh_wanted = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._exit_stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.client)
            await stack.enter_async_context(self.stream)
            self.stream.add_reconnect_listener(self.reconcile)
            self._spawn(self._refresh_queue_positions())
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(
            *self._background, *(job.abandon() for job in self.jobs), return_exceptions=True
        )
        await self._exit_stack.aclose()

    @property
    def jobs(self) -> list[Job]:
        """The jobs that have not finished yet."""
        return list(self._jobs.values())

    @property
    def url(self) -> str:
        return self.client.base_url

    @property
    def connected(self) -> bool:
        return self.stream.connected.is_set()

    @property
    def down_for(self) -> float:
        return self.stream.down_for

    async def probe(self) -> None:
        await self.client.queue()

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (our own error)
        await self.stream.wait_connected(timeout)

    async def upload_image(self, data: bytes, filename: str) -> str:
        return (await self.client.upload_image(data, filename)).reference

    def stream_output(self, ref: OutputRef) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self.client.stream_output(ref)

    async def node_schemas(self) -> dict[str, Any]:
        return await self.client.object_info()

    async def models(self, folder: str) -> list[str]:
        return await self.client.models(folder)

    async def model_folders(self) -> list[str]:
        return await self.client.models()

    async def cancel(self, prompt_id: str) -> None:
        await self.client.cancel(prompt_id)

    async def health(self) -> BackendHealth:
        stats, queue = await asyncio.gather(self.client.system_stats(), self.client.queue())
        system = stats.get("system") or {}
        return BackendHealth(
            self.url,
            reachable=True,
            version=system.get("comfyui_version"),
            queue_running=len(queue.running),
            queue_pending=len(queue.pending),
            devices=list(stats.get("devices") or []),
        )

    async def submit(
        self,
        prompt: Mapping[str, Any],
        extra_data: Mapping[str, Any] | None = None,
        prompt_id: str | None = None,
        listener: JobListener | None = None,
    ) -> Job:
        """Queue ``prompt`` (as ``prompt_id`` when given); raises ``PromptRejected`` or
        ``ComfyUnreachable``. ``listener`` gets the job's events from the first one.

        The socket is open and the job subscribed before the POST, so none of
        its events can be missed.
        """
        await self.stream.wait_connected(self.timeouts.connect)
        prompt_id = prompt_id or str(uuid.uuid4())
        connections = self.stream.connections
        subscription = self.stream.subscribe(prompt_id)
        try:
            submitted = await self.client.submit(prompt, prompt_id=prompt_id, extra_data=extra_data)
        except BaseException:
            subscription.close()
            raise
        if submitted.prompt_id != prompt_id:
            # An old server chose its own id; events may have gone by meanwhile.
            subscription.close()
            subscription = self.stream.subscribe(submitted.prompt_id)
            connections = -1
        job = self._follow(submitted.prompt_id, subscription, listener)
        if self.stream.connections != connections:
            self._spawn(job.reconcile())
        return job

    def adopt(self, prompt_id: str, listener: JobListener | None = None) -> Job:
        """Follow a prompt queued earlier, by another process or before a restart: its
        events from now on (they reach this server's socket when its clientId is the one
        the prompt was queued under), and what it missed, from the queue and history."""
        job = self._follow(prompt_id, self.stream.subscribe(prompt_id), listener)
        self._spawn(job.reconcile())
        return job

    def _follow(
        self, prompt_id: str, subscription: Subscription, listener: JobListener | None
    ) -> Job:
        job = Job(
            prompt_id,
            client=self.client,
            subscription=subscription,
            timeouts=self.timeouts,
            request_queue_refresh=self._queue_refresh_wanted.set,
            listener=listener,
        )
        self._jobs[job.prompt_id] = job
        job.add_done_callback(self._forget)
        self._queue_refresh_wanted.set()
        return job

    def _forget(self, job: Job) -> None:
        self._jobs.pop(job.prompt_id, None)

    async def reconcile(self) -> None:
        """Settle what every unfinished job missed while the socket was down."""
        await asyncio.gather(*(job.reconcile() for job in self.jobs))

    async def _refresh_queue_positions(self) -> None:
        """One ``GET /queue`` for all waiting jobs, however many asked for it, and at
        most one per ``queue_refresh_interval`` however often the queue moves; asked
        ``queue_refresh_delay`` after the first wish, so that a job which starts at once
        (an idle server) needs none."""
        while True:
            await self._queue_refresh_wanted.wait()
            await asyncio.sleep(self.queue_refresh_delay)
            self._queue_refresh_wanted.clear()
            waiting = [job for job in self.jobs if job.waiting_in_queue]
            if not waiting:
                continue
            try:
                queue = await self.client.queue()
            except ComfyError as error:
                logger.info("queue position refresh failed: %s", error)
                continue
            for job in waiting:
                job.set_queue_position(queue)
            gone = [job for job in waiting if queue.position(job.prompt_id) is None]
            await asyncio.gather(*(job.confirm_gone() for job in gone))
            await asyncio.sleep(self.queue_refresh_interval)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
