"""A streamed images answer (``stream: true``): up to ``partial_images`` of the job's live
previews as ``<kind>.partial_image`` events, then each image it made as
``<kind>.completed``, or an ``error`` event (OpenAI's error shape) when it did not
complete. A client that goes away stops the job, as the chat's Stop does.

The previews come from the job's progress (``PartialImages`` is its ``ProgressSink``,
beside the owner's Socket.IO events), as many as the progress throttle lets through:
at most one a second, each with its own sampler step.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from comfyui_pipe.comfy.events import Preview
from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.failures import CANCELLED
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.service import GenerationService
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.api.events import JobEvents
from comfyui_pipe.openwebui.chat.job import stop_job, stored_files
from comfyui_pipe.openwebui.host import HostFiles
from comfyui_pipe.progress import ProgressSnapshot

from .answers import NO_USAGE, file_bytes, image_event, images_of, sse
from .errors import ImagesAPIError

NOT_STORED = "The job completed but kept no image."


class PartialImages:
    """The ``ProgressSink`` of a streamed job: its first ``wanted`` previews, to be sent,
    and everything also to the owner's Socket.IO room (``also``)."""

    def __init__(self, wanted: int, also: JobEvents) -> None:
        self.previews: asyncio.Queue[Preview] = asyncio.Queue()
        self._wanted = wanted
        self._also = also

    async def show(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        if snapshot.preview is not None and self._wanted > 0:
            self._wanted -= 1
            self.previews.put_nowait(snapshot.preview)
        await self._also.show(record, snapshot)

    async def end(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        await self._also.end(record, files)


async def streamed_answer(
    service: GenerationService,
    files: HostFiles,
    record: JobRecord,
    sink: PartialImages,
    kind: str,
) -> AsyncIterator[bytes]:
    """The events of the started job ``record`` (``kind``: ``image_generation`` or
    ``image_edit``)."""
    try:
        ended = asyncio.ensure_future(service.wait(record.id))
        index = 0
        async for preview in _previews(sink, ended):
            data = image_event(
                f"{kind}.partial_image",
                preview.image,
                preview.image_type,
                partial_image_index=index,
            )
            yield sse(f"{kind}.partial_image", data)
            index += 1
        async for event in _final(files, ended, kind):
            yield event
    except asyncio.CancelledError:
        await asyncio.shield(stop_job(service, record))
        raise


async def _previews(
    sink: PartialImages, ended: asyncio.Future[JobRecord]
) -> AsyncIterator[Preview]:
    """The previews as they come, until the job ends (then those already queued)."""
    while not ended.done():
        taking = asyncio.ensure_future(sink.previews.get())
        either: set[asyncio.Future[Any]] = {taking, ended}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not taking.done():
            taking.cancel()
            break
        yield taking.result()
    while not sink.previews.empty():
        yield sink.previews.get_nowait()


async def _final(
    files: HostFiles, ended: asyncio.Future[JobRecord], kind: str
) -> AsyncIterator[bytes]:
    try:
        record = await ended
    except PipeError as error:
        yield sse("error", ImagesAPIError.of(error).body())
        return
    if record.state is not JobState.COMPLETED:
        yield sse("error", ImagesAPIError.of_failure(record.failure or CANCELLED).body())
        return
    images = images_of(await stored_files(files, record))
    if not images:
        yield sse("error", ImagesAPIError(502, NOT_STORED, "no_image").body())
    for image in images:
        data = image_event(
            f"{kind}.completed",
            await file_bytes(files, image.id),
            image.content_type,
            usage=NO_USAGE,
        )
        yield sse(f"{kind}.completed", data)
