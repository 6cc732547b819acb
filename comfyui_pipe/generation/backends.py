"""Several ComfyUI servers sharing the jobs.

One :class:`Backend` per server entry (``comfy.addresses``: a native ComfyUI, or a Comfy
API v2 server), opened on first use; the pool and its users need nothing else of a
server, whichever protocol it speaks. A job goes to the reachable backend with the
fewest of our own jobs in flight; a backend that was just found unreachable is tried
last for a while. Jobs adopted from another process are followed on a native server
opened under that process's ComfyUI clientId (ComfyUI sends a prompt's events to the
client that queued it). A v2 server has no node schemas: it checks each prompt itself.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from comfyui_pipe.comfy import (
    Backend,
    BackendHealth,
    ComfyError,
    ComfyUnreachable,
    Credentials,
    JobTimeouts,
    NotListed,
    cancel_on,
    open_backend,
    server_address,
)

from .costs import Learnt

__all__ = ["BackendHealth", "BackendPool", "ServerHealth"]

DOWN_FOR = 10.0
"""Seconds a backend that failed a probe is tried only after the others."""


@dataclass(frozen=True)
class ServerHealth(BackendHealth):
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
        api_key: str | None = None,
    ) -> None:
        if not urls:
            raise ValueError("A backend pool needs at least one ComfyUI URL.")
        self.urls = [url.rstrip("/") for url in urls]
        self.credentials = Credentials(dict(headers or {}), token, api_key)
        self.timeouts = timeouts or JobTimeouts()
        self.client_id = str(uuid.uuid4())
        """The ComfyUI clientId of this pool's own sockets (the prompts it queues)."""
        self._servers: dict[tuple[str, str | None], Backend] = {}
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

    async def server(self, url: str, client_id: str | None = None) -> Backend:
        """The server for ``url`` (one of :attr:`urls`), opened on first use; with the
        ``client_id`` of another process, a native one listening under that clientId."""
        url = url.rstrip("/")
        if url not in self._opening:
            raise KeyError(f"{url} is not one of this pool's backends")
        other = client_id not in (None, self.client_id) and self.checks_prompts(url)
        key = (url, client_id if other else None)
        async with self._opening[url]:
            if self._closed:
                raise ComfyUnreachable(url, "the backend pool is closed")
            if key not in self._servers:
                client = key[1] or self.client_id
                server = open_backend(url, self.credentials, self.timeouts, client)
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

    @staticmethod
    def checks_prompts(url: str) -> bool:
        """Whether prompts for ``url`` are checked here against its node schemas (a native
        ComfyUI); a Comfy API v2 server has none to give and checks them itself."""
        return not server_address(url).v2

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

    async def reachable(self) -> AsyncGenerator[Backend, None]:
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

    async def pick(self) -> Backend:
        """The least busy reachable backend that takes new jobs; ``ComfyUnreachable`` if
        none is."""
        async with self.acquire() as server:
            return server

    async def pick_listing(self, what: str) -> Backend:
        """The most preferred reachable backend that lists its node schemas and models (a
        native one); ``NotListed`` (``what``) when all are v2 servers."""
        if not any(self.checks_prompts(url) for url in self.urls):
            raise NotListed(what)
        async with aclosing(self.reachable()) as servers:
            async for server in servers:
                if self.checks_prompts(server.url):
                    return server
        raise ComfyUnreachable(", ".join(self.urls), "none of the backends answered")

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Backend]:
        """Like :meth:`pick`, and counts a job as in flight on it until the block ends,
        so that jobs started at the same time spread over the backends."""
        url, server = await self._reserve()
        try:
            yield server
        finally:
            self._starting[url] -= 1

    async def object_info(self, server: Backend, refresh: bool = False) -> dict[str, Any] | None:
        """The server's ``/object_info``, cached; ``refresh`` fetches it anew (after a
        model or node was reported missing: the admin may just have installed it). None
        for a server that has none (it checks prompts itself)."""
        url = server.url
        if not self.checks_prompts(url):
            return None
        async with self._object_info_locks[url]:
            if refresh or url not in self._object_info:
                self._object_info[url] = await server.node_schemas() or {}
            return self._object_info[url]

    def cached_object_info(self, url: str) -> dict[str, Any] | None:
        """The ``/object_info`` last fetched from ``url``, if any."""
        return self._object_info.get(url)

    async def cancel(self, url: str, prompt_id: str) -> None:
        """Cancel exactly ``prompt_id`` on ``url``: one of this pool's backends, or one
        that the settings named when the job was started."""
        url = url.rstrip("/")
        if url in self._opening:
            await (await self.server(url)).cancel(prompt_id)
            return
        await cancel_on(url, prompt_id, self.credentials, self.timeouts)

    async def health(self) -> list[BackendHealth]:
        return list(await asyncio.gather(*(self._health(url) for url in self.urls)))

    async def _reserve(self) -> tuple[str, Backend]:
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

    async def _probe(self, server: Backend) -> None:
        if server.connected:
            return
        # An HTTP call fails at once on a refused connection; the socket would
        # only give up after the connect timeout.
        await server.probe()
        await server.wait_connected(self.timeouts.connect)

    async def _health(self, url: str) -> BackendHealth:
        try:
            return await (await self.server(url)).health()
        except ComfyError as error:
            return BackendHealth(url, reachable=False, error=error)
