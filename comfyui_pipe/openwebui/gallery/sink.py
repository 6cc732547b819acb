"""The generation service's output sink, with each stored output also kept for the
gallery: its row and its thumbnail, made from the bytes as they pass on their way to
storage (so nothing is read back), once. A discarded file (its job failed or was
cancelled) leaves the gallery too. Making a thumbnail never fails the output."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import IO, Any

from comfyui_pipe.comfy.outputs import OutputRef
from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.generation.sink import OutputSink, StoredFile

from .table import Output, SqlGallery
from .thumbnails import Preview, preview_of

log = logging.getLogger(__name__)

SPOOLED_IN_MEMORY = 16 * 1024 * 1024
"""Bytes of an output's copy kept in memory for its thumbnail; beyond, a temporary file."""


class GallerySink:
    def __init__(
        self, files: OutputSink, gallery: SqlGallery, clock: Callable[[], float] = time.time
    ) -> None:
        self._files = files
        self._gallery = gallery
        self._clock = clock

    async def save(
        self,
        record: JobRecord,
        output: OutputRef,
        chunks: AsyncIterator[bytes],
        metadata: dict[str, Any],
        file_id: str,
    ) -> StoredFile:
        with tempfile.SpooledTemporaryFile(max_size=SPOOLED_IN_MEMORY) as copy:
            stored = await self._files.save(
                record, output, _copied(chunks, copy), metadata, file_id
            )
            copy.seek(0)
            preview = await asyncio.to_thread(preview_of, copy, output.kind)
        try:
            await self._gallery.add(
                _row(record, output, stored, preview, self._clock()), preview.thumbnail
            )
        except Exception:  # the file is stored; the gallery misses one item
            log.exception("Could not add output %s to the gallery", file_id)
        return stored

    async def find(self, file_ids: Sequence[str]) -> dict[str, StoredFile]:
        return await self._files.find(file_ids)

    async def attach(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        await self._files.attach(record, files)

    async def discard(self, file_ids: Sequence[str]) -> None:
        await self._files.discard(file_ids)
        await self._gallery.remove(list(file_ids))


async def _copied(chunks: AsyncIterator[bytes], copy: IO[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        copy.write(chunk)
        yield chunk


def _row(
    record: JobRecord, output: OutputRef, stored: StoredFile, preview: Preview, now: float
) -> Output:
    return Output(
        file_id=stored.id,
        owner_id=record.owner_id,
        job_id=record.id,
        workflow_id=record.workflow_id,
        kind=output.kind,
        content_type=stored.content_type,
        name=stored.name,
        size=stored.size,
        prompt=str(record.params.get("prompt") or "") or None,
        created_at=now,
        chat_id=record.chat_id,
        message_id=record.message_id,
        width=preview.width,
        height=preview.height,
        excerpt=preview.excerpt,
        has_thumbnail=preview.thumbnail is not None,
    )
