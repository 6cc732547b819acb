"""One generation followed for a chat message: the Pipe, the Tool and the Actions all
run their jobs through :func:`run_job`.

The job is validated and queued by the service (a refusal raises ``UserError``
before anything is queued), its progress goes to the message, and the chat's
Stop (``asyncio.CancelledError`` in the caller) cancels exactly this job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from open_webui.models.files import Files

from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.service import GenerationRequest, GenerationService
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.files import file_content_url
from comfyui_pipe.openwebui.progress_events import ChatProgress
from comfyui_pipe.progress.snapshot import ProgressSnapshot

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 10.0


@dataclass(frozen=True)
class FinishedJob:
    """A job's terminal record, its stored outputs and how long it took."""

    record: JobRecord
    files: list[StoredFile]
    elapsed: float

    @property
    def succeeded(self) -> bool:
        return self.record.state is JobState.COMPLETED


async def run_job(
    service: GenerationService,
    request: GenerationRequest,
    progress: ChatProgress | None,
    *,
    caption_says_done: bool = False,
) -> FinishedJob:
    """Start, follow and finish one generation. ``caption_says_done``: the message's own
    text repeats the final status, so the status line is hidden once the job is done."""

    async def on_progress(record: JobRecord, snapshot: ProgressSnapshot) -> None:
        if progress is not None:
            await progress.update(snapshot, result_size(record))

    started_at = time.monotonic()
    record = await service.start(request, on_progress=on_progress)
    try:
        record = await service.wait(record.id)
    except asyncio.CancelledError:
        await asyncio.shield(stop_job(service, record, progress))
        raise
    elapsed = time.monotonic() - started_at
    files = await stored_files(record) if record.state is JobState.COMPLETED else []
    if progress is not None:
        if record.state is JobState.COMPLETED:
            await progress.finish(done_status(record, elapsed), files, hidden=caption_says_done)
        else:
            await progress.finish("Cancelled" if record.state is JobState.CANCELLED else "Failed")
    return FinishedJob(record, files, elapsed)


async def stop_job(
    service: GenerationService, record: JobRecord, progress: ChatProgress | None
) -> None:
    """Cancel this job on ComfyUI and leave its message saying so."""
    try:
        async with asyncio.timeout(CANCEL_TIMEOUT):
            await service.cancel(record.id)
            if progress is not None:
                await progress.finish("Cancelled")
    except Exception:
        # Stop must still end the response; the job's own timeout ends it on ComfyUI.
        log.warning("Cancelling job %s did not finish cleanly", record.id, exc_info=True)


def result_size(record: JobRecord) -> tuple[int, int] | None:
    """The size of the job's images, once its parameters are known."""
    width, height = record.params.get("width"), record.params.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return width, height
    return None


async def stored_files(record: JobRecord) -> list[StoredFile]:
    """The job's outputs as Open WebUI files (the sink stored them; the record keeps ids)."""
    files = await Files.get_files_by_ids(record.output_file_ids)
    by_id = {file.id: file for file in files}
    return [
        StoredFile(
            id=file.id,
            url=file_content_url(file.id),
            name=file.filename,
            content_type=(file.meta or {}).get("content_type") or "image/png",
            size=(file.meta or {}).get("size") or 0,
        )
        for file in (by_id[file_id] for file_id in record.output_file_ids if file_id in by_id)
    ]


def done_status(record: JobRecord, elapsed: float) -> str:
    seed = record.params.get("seed")
    parts = [f"Done in {elapsed:.1f} s"] + ([f"seed {seed}"] if seed is not None else [])
    return " · ".join(parts)


def video_players(files: list[StoredFile]) -> str:
    """The chat's inline player for each video (Open WebUI plays ``<video>url</video>``)."""
    return "\n".join(
        f"<video>{file.url}</video>" for file in files if file.content_type.startswith("video/")
    )
