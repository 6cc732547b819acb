"""Generation outputs stored as the owner's Open WebUI files.

Bytes go through Open WebUI's ``Storage`` (local disk, S3, GCS or Azure, as
``STORAGE_PROVIDER`` says), the row through ``Files`` once the bytes are there
(so a file with a row is whole); the generation service chooses the ids (see
``generation.sink``). A chat job's files are linked to its message so the chat's
access checks find them. The browser only ever sees ``/api/v1/files/{id}/content``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, Any

from comfyui_pipe.comfy.outputs import OutputRef
from comfyui_pipe.generation.errors import OutputNotStored
from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.host import HostFile, OpenWebUIHost

SPOOLED_IN_MEMORY = 16 * 1024 * 1024
"""Bytes of an output kept in memory on their way to storage (an image); beyond, a
temporary file (a long video)."""


def file_content_url(file_id: str) -> str:
    return f"/api/v1/files/{file_id}/content"


def stored_file(file: HostFile, default_type: str = "") -> StoredFile:
    """One of our outputs as Open WebUI's files table holds it."""
    return StoredFile(
        id=file.id,
        url=file_content_url(file.id),
        name=file.filename,
        content_type=file.meta.get("content_type") or default_type,
        size=file.meta.get("size") or 0,
    )


class OpenWebUIFileSink:
    """The generation service's ``OutputSink`` on Open WebUI's storage."""

    def __init__(self, host: OpenWebUIHost) -> None:
        self._files = host.files
        self._chats = host.chats

    async def save(
        self,
        record: JobRecord,
        output: OutputRef,
        chunks: AsyncIterator[bytes],
        metadata: dict[str, Any],
        file_id: str,
    ) -> StoredFile:
        name = Path(output.filename).name
        with tempfile.SpooledTemporaryFile(max_size=SPOOLED_IN_MEMORY) as spool:
            size = await _spool(chunks, spool)
            spool.seek(0)
            path = await self._files.upload(
                spool,
                f"{file_id}_{name}",
                {"OpenWebUI-User-Id": record.owner_id, "OpenWebUI-File-Id": file_id},
            )
        meta = {
            "name": name,
            "content_type": output.content_type,
            "size": size,
            "comfyui": {**metadata, "job_id": record.id},
        }
        if not await self._files.insert(record.owner_id, file_id, name, path, meta):
            # another owner of the job stored it meanwhile (same id, same bytes and path)
            if (found := (await self.find([file_id])).get(file_id)) is not None:
                return found
            raise OutputNotStored(name, "Open WebUI's files table refused it")
        return StoredFile(
            id=file_id,
            url=file_content_url(file_id),
            name=name,
            content_type=output.content_type,
            size=size,
        )

    async def find(self, file_ids: Sequence[str]) -> dict[str, StoredFile]:
        found = await self._files.many(file_ids) if file_ids else []
        return {file.id: stored_file(file) for file in found}

    async def attach(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        if record.chat_id and record.message_id and files:
            await self._chats.link_files(
                record.chat_id, record.message_id, [f.id for f in files], record.owner_id
            )

    async def discard(self, file_ids: Sequence[str]) -> None:
        for file_id in file_ids:
            found = await self._files.get(file_id)
            if found is not None:
                await self._files.delete(found)


async def _spool(chunks: AsyncIterator[bytes], spool: IO[bytes]) -> int:
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size <= SPOOLED_IN_MEMORY:
            spool.write(chunk)  # memory
        else:
            await asyncio.to_thread(spool.write, chunk)  # the disk, once rolled over
    return size
