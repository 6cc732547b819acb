"""What the engine needs of one ComfyUI server, whichever protocol it speaks.

A native ComfyUI (``server.ComfyServer``: ``/prompt``, one WebSocket, ``/view``) and a
Comfy API v2 server (``v2.V2Server``: Comfy Cloud, ``comfy-api-proxy``: ``/api/v2/jobs``
with idempotency keys, server-sent events, assets) are both a :class:`Backend`; the
generation run, the dispatcher and the pool use nothing else of them. A job a backend
follows is a :class:`FollowedJob`: its events and its place in the queue go to the
listener given at submit, its end is ``outcome()``, a value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

from .errors import ComfyError
from .followed import JobListener
from .job import JobTimeouts
from .outcome import JobOutcome
from .outputs import OutputRef


class FollowedJob(Protocol):
    """A prompt queued on a backend, followed to its end."""

    @property
    def prompt_id(self) -> str: ...

    @property
    def started(self) -> bool:
        """Whether the server has started running it (it left the server's queue)."""
        ...

    async def outcome(self) -> JobOutcome:
        """How it ended (never raises for the server's endings)."""
        ...

    async def cancel(self) -> None:
        """Cancel exactly this job on the server; its outcome is then ``INTERRUPTED``
        unless it ended otherwise first."""
        ...

    async def abandon(self) -> None:
        """Stop following it here; the server is not told."""
        ...

    def lose(self) -> None:
        """Its server stopped answering before it started: give it up as lost where that
        means its server's queue is gone (a native ComfyUI); a server that keeps its
        queue (a v2 one) is looked at again instead."""
        ...

    async def reconcile(self) -> None:
        """Find out from the server what happened while its events were lost."""
        ...


@dataclass(frozen=True)
class BackendHealth:
    url: str
    reachable: bool
    version: str | None = None
    queue_running: int = 0
    queue_pending: int = 0
    devices: list[dict[str, Any]] = field(default_factory=list)
    error: ComfyError | None = None


class Backend(Protocol):
    """One server of the pool: ``async with`` opens it, leaving closes it (its unfinished
    jobs are abandoned, not cancelled)."""

    @property
    def url(self) -> str:
        """The server as the settings name it (a record's ``backend``)."""
        ...

    @property
    def timeouts(self) -> JobTimeouts: ...

    @property
    def connected(self) -> bool:
        """Whether its live channel is up: a native server's socket; a v2 server's last
        request answered."""
        ...

    @property
    def down_for(self) -> float:
        """Seconds its live channel has been down; 0 while it is up."""
        ...

    @property
    def jobs(self) -> Sequence[FollowedJob]:
        """The jobs it follows that have not ended."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def submit(
        self,
        prompt: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        listener: JobListener | None = None,
    ) -> FollowedJob:
        """Queue ``prompt`` (``prompt_id``: ours, the one recorded before submitting);
        raises ``PromptRejected`` (what the server refused, in its words) or
        ``ComfyUnreachable``."""
        ...

    def adopt(self, prompt_id: str, listener: JobListener | None = None) -> FollowedJob:
        """Follow a prompt queued by another process (or before a restart)."""
        ...

    async def probe(self) -> None:
        """One request; ``ComfyUnreachable`` when the server does not answer it."""
        ...

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109
        """Until its live channel is up (``ComfyUnreachable`` after ``timeout``)."""
        ...

    async def upload_image(self, data: bytes, filename: str) -> str:
        """Store an input image there; the value a ``LoadImage`` input takes."""
        ...

    def stream_output(self, ref: OutputRef) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """One output file's bytes, in chunks."""
        ...

    async def node_schemas(self) -> dict[str, Any] | None:
        """Its ``/object_info``; None for a server that has none to give (a v2 server):
        it checks prompts itself, when they are submitted."""
        ...

    async def models(self, folder: str) -> list[str]:
        """The model files in ``folder``; ``NotListed`` when the server lists none."""
        ...

    async def model_folders(self) -> list[str]:
        """Its model folders' names; ``NotListed`` when the server lists none."""
        ...

    async def cancel(self, prompt_id: str) -> None:
        """Cancel exactly ``prompt_id`` there, followed here or not."""
        ...

    async def health(self) -> BackendHealth: ...
