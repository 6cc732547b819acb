"""One generation followed to its end: the Pipe, the Tool and the Actions (for a chat
message) and the images API all run their jobs through :func:`run_job`.

The job is validated and queued by the service (a refusal raises before anything is
queued), its progress and its end go to its sink (the message's ``ChatProgress``, the
API's events), and a cancelled caller (the chat's Stop: ``asyncio.CancelledError``)
cancels exactly this job.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from comfyui_pipe.comfy.outputs import TEXT_CONTENT_TYPE
from comfyui_pipe.generation.progress_relay import ProgressSink
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.request import GenerationRequest
from comfyui_pipe.generation.service import GenerationService
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.host import HostFiles
from comfyui_pipe.openwebui.store.files import stored_file

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 10.0
TEXT_SHOWN_CHARS = 4000
IMAGE_BY_DEFAULT = "image/png"
"""The type of an output whose row names none."""


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
    service: GenerationService,
    files: HostFiles,
    request: GenerationRequest,
    progress: ProgressSink | None,
) -> FinishedJob:
    """Start, follow and finish one generation (``progress``: the message's, or the
    images API's)."""
    record = await service.start(request, progress)
    try:
        record = await service.wait(record.id)
    except asyncio.CancelledError:
        if not service.closed:  # a Stop; when this process stops, the job goes on elsewhere
            await asyncio.shield(stop_job(service, record))
        raise
    stored = await stored_files(files, record) if record.state is JobState.COMPLETED else []
    return FinishedJob(record, stored, await output_texts(files, stored))


async def stop_job(service: GenerationService, record: JobRecord) -> None:
    """Cancel this job on ComfyUI (its message then says so)."""
    try:
        async with asyncio.timeout(CANCEL_TIMEOUT):
            await service.cancel(record.id)
    except Exception:
        # Stop must still end the response; the job's own timeout ends it on ComfyUI.
        log.warning("Cancelling job %s did not finish cleanly", record.id, exc_info=True)


async def stored_files(files: HostFiles, record: JobRecord) -> list[StoredFile]:
    """The job's outputs as Open WebUI files (the sink stored them; the record keeps ids)."""
    by_id = {file.id: file for file in await files.many(record.output_file_ids)}
    return [
        stored_file(by_id[file_id], IMAGE_BY_DEFAULT)
        for file_id in record.output_file_ids
        if file_id in by_id
    ]


async def output_texts(files: HostFiles, stored: list[StoredFile]) -> tuple[str, ...]:
    """The text outputs among ``stored``, read back from storage (each shortened to
    ``TEXT_SHOWN_CHARS``; the whole text stays in the file)."""
    texts = []
    for output in stored:
        if output.content_type == TEXT_CONTENT_TYPE:
            file = await files.get(output.id)
            if file is not None and file.path:
                local = await files.local_path(file.path)
                texts.append(await asyncio.to_thread(_read_text, local))
    return tuple(texts)


def _read_text(local: Path) -> str:
    with local.open(encoding="utf-8", errors="replace") as text:
        shown = text.read(TEXT_SHOWN_CHARS + 1)
    return shown if len(shown) <= TEXT_SHOWN_CHARS else shown[:TEXT_SHOWN_CHARS] + "…"
