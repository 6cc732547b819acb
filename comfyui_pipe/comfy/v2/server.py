"""A Comfy API v2 server as the pool sees it: a ``Backend`` (see ``backend.py``).

It has no node schemas to give (it checks each prompt when it is submitted, and its
refusal is the job's failure, in its words) and no model lists. Input images become
assets: ``upload_image`` answers a reference that ``submit`` turns into the workflow's
``core/ASSET`` object for the input that names it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Self

from ..backend import BackendHealth
from ..errors import NotListed
from ..followed import JobListener
from ..job import JobTimeouts
from ..outputs import OutputRef
from .client import V2Client
from .job import POLL, V2Job

ASSET = "comfy-v2-asset:"
"""How an uploaded image is named in a workflow until it is submitted."""
VERSION = "Comfy API v2"


def with_assets(node: Any) -> Any:
    """``node`` with every uploaded image's name as the ``core/ASSET`` reference the v2
    server resolves."""
    if isinstance(node, str) and node.startswith(ASSET):
        return {"__type": "core/ASSET", "info": {"id": node.removeprefix(ASSET)}}
    if isinstance(node, Mapping):
        return {key: with_assets(value) for key, value in node.items()}
    if isinstance(node, list):
        return [with_assets(value) for value in node]
    return node


class V2Server:
    def __init__(self, entry: str, client: V2Client, poll: float = POLL) -> None:
        self._entry = entry
        self.client = client
        self._poll = poll
        self._jobs: dict[int, V2Job] = {}

    @property
    def url(self) -> str:
        return self._entry

    @property
    def timeouts(self) -> JobTimeouts:
        return self.client.timeouts

    @property
    def connected(self) -> bool:
        return self.client.answered

    @property
    def down_for(self) -> float:
        """Always 0: a v2 server keeps its jobs while it does not answer, so none of its
        running jobs is ever taken for lost."""
        return 0.0

    @property
    def jobs(self) -> list[V2Job]:
        return list(self._jobs.values())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.gather(*(job.abandon() for job in self.jobs), return_exceptions=True)
        await self.client.aclose()

    async def submit(
        self,
        prompt: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        listener: JobListener | None = None,
    ) -> V2Job:
        key = prompt_id or str(uuid.uuid4())
        job = await self.client.submit(with_assets(prompt), key)
        return self._follow(str(job.get("id") or key), listener)

    def adopt(self, prompt_id: str, listener: JobListener | None = None) -> V2Job:
        return self._follow(prompt_id, listener)

    async def probe(self) -> None:
        await self.client.health()

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (no live channel)
        """Nothing to wait for: it has no channel that stays open."""

    async def upload_image(self, data: bytes, filename: str) -> str:
        return ASSET + await self.client.upload(data, filename)

    def stream_output(self, ref: OutputRef) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self.client.content(ref)

    async def node_schemas(self) -> None:
        return None

    async def models(self, folder: str) -> list[str]:
        raise NotListed("models")

    async def model_folders(self) -> list[str]:
        raise NotListed("models")

    async def cancel(self, prompt_id: str) -> None:
        await self.client.cancel(prompt_id)

    async def health(self) -> BackendHealth:
        await self.client.health()
        return BackendHealth(self.url, reachable=True, version=VERSION)

    def _follow(self, prompt_id: str, listener: JobListener | None) -> V2Job:
        job = V2Job(prompt_id, self.client, self.timeouts, listener, self._poll)
        self._jobs[id(job)] = job
        job.add_done_callback(self._forget)
        return job

    def _forget(self, job: V2Job) -> None:
        self._jobs.pop(id(job), None)
