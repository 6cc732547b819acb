"""Several ComfyUI servers sharing the jobs.

One :class:`ComfyServer` per URL, opened on first use. A job goes to the
reachable backend with the fewest of our own jobs in flight; a backend that
was just found unreachable is tried last for a while. Jobs adopted from another
process are followed on a server opened under that process's ComfyUI clientId
(ComfyUI sends a prompt's events to the client that queued it).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from comfyui_pipe.comfy import ComfyClient, ComfyError, ComfyServer, ComfyUnreachable, JobTimeouts

from .costs import Learnt

DOWN_FOR = 10.0
"""Seconds a backend that failed a probe is tried only after the others."""


@dataclass(frozen=True)
class BackendHealth:
    url: str
    reachable: bool
    version: str | None = None
    queue_running: int = 0
    queue_pending: int = 0
    devices: list[dict[str, Any]] = field(default_factory=list)
    error: ComfyError | None = None
    learnt: Learnt | None = None
    """Its speeds and the models it holds, as this process has seen them."""


class BackendPool:
    """``async with BackendPool([url, ...]) as pool: server = await pool.pick()``."""

    def __init__(
        self,
        urls: list[str],
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        timeouts: JobTimeouts | None = None,
    ) -> None:
        if not urls:
            raise ValueError("A backend pool needs at least one ComfyUI URL.")
        self.urls = [url.rstrip("/") for url in urls]
        self.headers = dict(headers or {})
        self.token = token
        self.timeouts = timeouts or JobTimeouts()
        self.client_id = str(uuid.uuid4())
        """The ComfyUI clientId of this pool's own sockets (the prompts it queues)."""
        self._servers: dict[tuple[str, str | None], ComfyServer] = {}
        self._opening = {url: asyncio.Lock() for url in self.urls}
        self._object_info: dict[str, dict[str, Any]] = {}
        self._object_info_locks = {url: asyncio.Lock() for url in self.urls}
        self._starting = dict.fromkeys(self.urls, 0)
        self._down_until = dict.fromkeys(self.urls, 0.0)
        self._last_pick = dict.fromkeys(self.urls, 0)
        self._picks = itertools.count(1)
        self._exit_stack = AsyncExitStack()
        self._closed = False
        self._drained: frozenset[str] = frozenset()

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
        """Close every server (their unfinished jobs are abandoned, not cancelled)."""
        self._closed = True
        await self._exit_stack.aclose()
        self._servers.clear()

    async def server(self, url: str, client_id: str | None = None) -> ComfyServer:
        """The server for ``url`` (one of :attr:`urls`), opened on first use; with the
        ``client_id`` of another process, one listening under that clientId."""
        url = url.rstrip("/")
        if url not in self._opening:
            raise KeyError(f"{url} is not one of this pool's backends")
        key = (url, None if client_id in (None, self.client_id) else client_id)
        async with self._opening[url]:
            if self._closed:
                raise ComfyUnreachable(url, "the backend pool is closed")
            if key not in self._servers:
                server = ComfyServer(
                    url,
                    headers=self.headers,
                    token=self.token,
                    client_id=key[1] or self.client_id,
                    timeouts=self.timeouts,
                )
                self._servers[key] = await self._exit_stack.enter_async_context(server)
            return self._servers[key]

    @property
    def drained(self) -> frozenset[str]:
        return self._drained

    def drain(self, urls: Collection[str]) -> None:
        """``urls`` take no new jobs (none is picked or offered); the jobs they have
        finish there. Replaces the earlier drained set."""
        self._drained = frozenset(url.rstrip("/") for url in urls) & set(self.urls)

    def _open_to_new_jobs(self) -> list[str]:
        return [url for url in self.urls if url not in self._drained]

    def in_flight(self, url: str) -> int:
        """Our own jobs on ``url``: unfinished ones plus those being started."""
        server = self._servers.get((url, None))
        return self._starting[url] + (len(server.jobs) if server else 0)

    def available(self) -> list[str]:
        """The backends not known to be down, most preferred first."""
        return sorted(
            (url for url in self._open_to_new_jobs() if self._down_until[url] <= time.monotonic()),
            key=self._preference,
        )

    def mark_down(self, url: str) -> None:
        """``url`` was found unreachable: offer it last for a while."""
        self._down_until[url] = time.monotonic() + DOWN_FOR

    async def reachable(self) -> AsyncGenerator[ComfyServer, None]:
        """Every reachable backend that takes new jobs, most preferred first (probed as it
        comes)."""
        for url in sorted(self._open_to_new_jobs(), key=self._preference):
            try:
                server = await self.server(url)
                await self._probe(server)
            except ComfyUnreachable:
                self.mark_down(url)
                continue
            self._down_until[url] = 0.0
            yield server

    async def pick(self) -> ComfyServer:
        """The least busy reachable backend that takes new jobs; ``ComfyUnreachable`` if
        none is."""
        async with self.acquire() as server:
            return server

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[ComfyServer]:
        """Like :meth:`pick`, and counts a job as in flight on it until the block ends,
        so that jobs started at the same time spread over the backends."""
        url, server = await self._reserve()
        try:
            yield server
        finally:
            self._starting[url] -= 1

    async def object_info(self, server: ComfyServer, refresh: bool = False) -> dict[str, Any]:
        """The server's ``/object_info``, cached; ``refresh`` fetches it anew (after a
        model or node was reported missing: the admin may just have installed it)."""
        url = server.client.base_url
        async with self._object_info_locks[url]:
            if refresh or url not in self._object_info:
                self._object_info[url] = await server.client.object_info()
            return self._object_info[url]

    def cached_object_info(self, url: str) -> dict[str, Any] | None:
        """The ``/object_info`` last fetched from ``url``, if any."""
        return self._object_info.get(url)

    async def cancel(self, url: str, prompt_id: str) -> None:
        """Cancel exactly ``prompt_id`` on ``url``: one of this pool's backends, or one
        that the settings named when the job was started."""
        url = url.rstrip("/")
        if url in self._opening:
            await (await self.server(url)).client.cancel(prompt_id)
            return
        async with ComfyClient(
            url, headers=self.headers, token=self.token, timeout=self.timeouts.connect
        ) as client:
            await client.cancel(prompt_id)

    async def health(self) -> list[BackendHealth]:
        return list(await asyncio.gather(*(self._health(url) for url in self.urls)))

    async def _reserve(self) -> tuple[str, ComfyServer]:
        failures: list[ComfyUnreachable] = []
        untried = self._open_to_new_jobs()
        while untried:
            # Chosen afresh each time: other jobs may have reserved meanwhile.
            url = min(untried, key=self._preference)
            untried.remove(url)
            self._starting[url] += 1
            self._last_pick[url] = next(self._picks)
            try:
                server = await self.server(url)
                await self._probe(server)
            except ComfyUnreachable as error:
                self._starting[url] -= 1
                self.mark_down(url)
                failures.append(error)
                continue
            except BaseException:
                self._starting[url] -= 1
                raise
            self._down_until[url] = 0.0
            return url, server
        if len(failures) == 1:
            raise failures[0]
        raise ComfyUnreachable(", ".join(self.urls), "none of the backends answered")

    def _preference(self, url: str) -> tuple[bool, int, int]:
        """Backends not known to be down first, then the least busy, then the least
        recently picked."""
        return (self._down_until[url] > time.monotonic(), self.in_flight(url), self._last_pick[url])

    async def _probe(self, server: ComfyServer) -> None:
        if server.stream.connected.is_set():
            return
        # An HTTP call fails at once on a refused connection; the socket would
        # only give up after the connect timeout.
        await server.client.queue()
        await server.stream.wait_connected(self.timeouts.connect)

    async def _health(self, url: str) -> BackendHealth:
        try:
            server = await self.server(url)
            stats, queue = await asyncio.gather(server.client.system_stats(), server.client.queue())
        except ComfyError as error:
            return BackendHealth(url, reachable=False, error=error)
        system = stats.get("system") or {}
        return BackendHealth(
            url,
            reachable=True,
            version=system.get("comfyui_version"),
            queue_running=len(queue.running),
            queue_pending=len(queue.pending),
            devices=list(stats.get("devices") or []),
        )
