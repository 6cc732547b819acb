"""One generation followed for a chat message: the Pipe, the Tool and the Actions all
run their jobs through :func:`run_job`.

The job is validated and queued by the service (a refusal raises before anything is
queued), its progress and its end go to the message (the ``ChatProgress`` sink), and
the chat's Stop (``asyncio.CancelledError`` in the caller) cancels exactly this job.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from open_webui.models.files import FileModel, Files
from open_webui.storage.provider import Storage

from comfyui_pipe.comfy.outputs import TEXT_CONTENT_TYPE
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.request import GenerationRequest
from comfyui_pipe.generation.service import GenerationService
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.files import file_content_url
from comfyui_pipe.openwebui.progress_events import ChatProgress

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 10.0
TEXT_SHOWN_CHARS = 4000


@dataclass(frozen=True)
class FinishedJob:
    """A job's terminal record, its stored outputs and how long it took."""

    record: JobRecord
    files: list[StoredFile]
    texts: tuple[str, ...] = ()
    """The text outputs (``PreviewAny``, ``SaveText``), as shown in the message."""

    @property
    def succeeded(self) -> bool:
        return self.record.state is JobState.COMPLETED

    @property
    def elapsed(self) -> float:
        record = self.record
        return (record.finished_at or record.created_at) - record.created_at


async def run_job(
    service: GenerationService, request: GenerationRequest, progress: ChatProgress | None
) -> FinishedJob:
    """Start, follow and finish one generation."""
    record = await service.start(request, progress)
    try:
        record = await service.wait(record.id)
    except asyncio.CancelledError:
        if not service.closed:  # a Stop; when this process stops, the job goes on elsewhere
            await asyncio.shield(stop_job(service, record))
        raise
    files = await stored_files(record) if record.state is JobState.COMPLETED else []
    return FinishedJob(record, files, await output_texts(files))


async def stop_job(service: GenerationService, record: JobRecord) -> None:
    """Cancel this job on ComfyUI (its message then says so)."""
    try:
        async with asyncio.timeout(CANCEL_TIMEOUT):
            await service.cancel(record.id)
    except Exception:
        # Stop must still end the response; the job's own timeout ends it on ComfyUI.
        log.warning("Cancelling job %s did not finish cleanly", record.id, exc_info=True)


async def stored_files(record: JobRecord) -> list[StoredFile]:
    """The job's outputs as Open WebUI files (the sink stored them; the record keeps ids)."""
    files = await Files.get_files_by_ids(record.output_file_ids)
    by_id = {file.id: file for file in files}
    return [stored_file(by_id[file_id]) for file_id in record.output_file_ids if file_id in by_id]


def stored_file(file: FileModel) -> StoredFile:
    """One of our outputs as Open WebUI's files table holds it."""
    return StoredFile(
        id=file.id,
        url=file_content_url(file.id),
        name=file.filename,
        content_type=(file.meta or {}).get("content_type") or "image/png",
        size=(file.meta or {}).get("size") or 0,
    )


async def output_texts(files: list[StoredFile]) -> tuple[str, ...]:
    """The text outputs among ``files``, read back from storage (each shortened to
    ``TEXT_SHOWN_CHARS``; the whole text stays in the file)."""
    texts = []
    for stored in files:
        if stored.content_type == TEXT_CONTENT_TYPE:
            file = await Files.get_file_by_id(stored.id)
            if file is not None and file.path:
                texts.append(await asyncio.to_thread(_read_text, file.path))
    return tuple(texts)


def _read_text(storage_path: str) -> str:
    with Path(Storage.get_file(storage_path)).open(encoding="utf-8", errors="replace") as text:
        shown = text.read(TEXT_SHOWN_CHARS + 1)
    return shown if len(shown) <= TEXT_SHOWN_CHARS else shown[:TEXT_SHOWN_CHARS] + "…"
