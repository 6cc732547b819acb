"""Model downloads started from the console, run by this process into a server's models
folder with the model fetcher's own download (resumable, checked against the size and
sha256, renamed into place only when whole). Each is a row in ``comfyui_pipe_download``
that the download's task keeps up to date twice a second; a cancel from any process
ends the row, and the task stops at its next chunk. What arrived stays as ``.part``, so
starting the same download again resumes it."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import httpx

from comfyui_pipe.fetch_models.download import DEFAULT_TIMEOUT, FetchError, fetch_model
from comfyui_pipe.workflow.model import ModelFile

from .downloads_table import Download, DownloadState, SqlDownloads
from .folders import ModelsFolder

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5
"""Seconds between writes of a running download's progress."""
ADVICE = "Start it again to resume, or put the file in place yourself."
STOPPED = "Cancelled; start it again to resume from where it stopped."


class Stopped(Exception):
    """Raised in the download's thread to stop it."""


@dataclass(frozen=True)
class DownloadPlan:
    server: str
    folder: ModelsFolder
    model: ModelFile
    size: int | None
    """The expected size: the metadata's, else what the address said."""


@dataclass
class _Bytes:
    done: int = 0
    total: int | None = None
    stop: bool = False


class ModelDownloads:
    """This process's downloads; ``finished(server)`` is awaited after each one that
    completed (the server's node schemas are fetched again, so its workflows become
    available without a restart)."""

    def __init__(
        self,
        store: SqlDownloads,
        worker_id: Callable[[], str],
        finished: Callable[[str], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._worker_id = worker_id
        self._finished = finished
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._seen: dict[str, _Bytes] = {}

    async def start(self, plan: DownloadPlan, user_id: str) -> Download:
        download = Download(
            id=uuid.uuid4().hex,
            server=plan.server,
            folder=plan.model.folder,
            filename=plan.model.filename,
            url=plan.model.url,
            sha256=plan.model.sha256,
            size=plan.size,
            received=0,
            state=DownloadState.RUNNING,
            error=None,
            created_by=user_id,
            created_at=self._clock(),
            finished_at=None,
            worker_id=self._worker_id(),
        )
        await self.store.add(download)
        self._seen[download.id] = _Bytes(total=plan.size)
        task = asyncio.create_task(self._run(download, plan), name="comfyui-model-download")
        self._tasks[download.id] = task
        task.add_done_callback(lambda _: self._forget(download.id))
        return download

    async def cancel(self, download: Download) -> Download:
        """End a running download, whichever process runs it (this one's stops at its next
        chunk; another process's within ``PROGRESS_EVERY``, when it next writes)."""
        if download.id in self._seen:
            self._seen[download.id].stop = True
        ended = await self.store.end(download.id, DownloadState.CANCELLED, self._clock(), STOPPED)
        if not ended:
            return download
        return replace(download, state=DownloadState.CANCELLED, error=STOPPED)

    async def aclose(self) -> None:
        """Stop the downloads of this process; their rows say they were interrupted."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget(self, download_id: str) -> None:
        self._tasks.pop(download_id, None)
        self._seen.pop(download_id, None)

    async def _run(self, download: Download, plan: DownloadPlan) -> None:
        seen = self._seen[download.id]
        transfer = asyncio.create_task(
            asyncio.to_thread(_fetch, plan.model, plan.folder, seen), name="comfyui-model-transfer"
        )
        try:
            while not transfer.done():
                await asyncio.wait({transfer}, timeout=PROGRESS_EVERY)
                if not await self.store.progress(download.id, seen.done, seen.total):
                    seen.stop = True  # cancelled: the thread stops at its next chunk
            await transfer
        except asyncio.CancelledError:
            seen.stop = True
            await asyncio.shield(self._end(download, DownloadState.FAILED, _INTERRUPTED))
            raise
        except Stopped:
            return  # the row says cancelled already
        except FetchError as error:
            await self._end(download, DownloadState.FAILED, str(error))
            return
        except Exception as error:
            log.exception("downloading %s/%s", download.folder, download.filename)
            await self._end(download, DownloadState.FAILED, f"The download failed: {error}.")
            return
        await self.store.progress(download.id, seen.done, seen.total)
        # A cancel that came after the last chunk is too late: the file is in place.
        await self.store.end(download.id, DownloadState.COMPLETED, self._clock(), None, late=True)
        await self._finished(download.server)

    async def _end(self, download: Download, state: DownloadState, error: str | None) -> None:
        await self.store.end(download.id, state, self._clock(), error)


_INTERRUPTED = "Interrupted: Open WebUI stopped. " + ADVICE


def _fetch(model: ModelFile, folder: ModelsFolder, seen: _Bytes) -> None:
    def heard(done: int, total: int | None) -> None:
        if seen.stop:
            raise Stopped()
        seen.done, seen.total = done, total if total is not None else seen.total

    with httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=True) as client:
        fetch_model(client, model, folder.root, on_bytes=heard, advice=ADVICE, retry_delay=1.0)
