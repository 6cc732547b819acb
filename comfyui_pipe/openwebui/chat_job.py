"""One generation followed for a chat message: the Pipe, the Tool and the Actions all
run their jobs through :func:`run_job`.

The job is validated and queued by the service (a refusal raises ``UserError``
before anything is queued), its progress goes to the message, and the chat's
Stop (``asyncio.CancelledError`` in the caller) cancels exactly this job.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from open_webui.models.files import FileModel, Files
from open_webui.storage.provider import Storage

from comfyui_pipe.comfy.outputs import TEXT_CONTENT_TYPE
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.service import GenerationRequest, GenerationService
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.files import file_content_url
from comfyui_pipe.openwebui.progress_events import ChatProgress
from comfyui_pipe.progress.snapshot import ProgressSnapshot

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 10.0
TEXT_SHOWN_CHARS = 4000


@dataclass(frozen=True)
class FinishedJob:
    """A job's terminal record, its stored outputs and how long it took."""

    record: JobRecord
    files: list[StoredFile]
    elapsed: float
    texts: tuple[str, ...] = ()
    """The text outputs (``PreviewAny``, ``SaveText``), as shown in the message."""

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
    texts = await output_texts(files)
    if progress is not None:
        if record.state is JobState.COMPLETED:
            await progress.finish(done_status(record, elapsed), files, hidden=caption_says_done)
        else:
            await progress.finish("Cancelled" if record.state is JobState.CANCELLED else "Failed")
    return FinishedJob(record, files, elapsed, texts)


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


def done_status(record: JobRecord, elapsed: float) -> str:
    seed = record.params.get("seed")
    parts = [f"Done in {elapsed:.1f} s"] + ([f"seed {seed}"] if seed is not None else [])
    return " · ".join(parts)


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


def result_body(finished: FinishedJob) -> str:
    """What the message text shows under its caption: a player for each video and audio
    file, then each text output. Images need nothing: the message's files show them."""
    parts = [player for player in map(media_player, finished.files) if player]
    parts += [literal_block(text) for text in finished.texts]
    return "\n\n".join(parts)


def media_player(file: StoredFile) -> str:
    """Open WebUI 0.12 plays ``<video>`` / ``<audio>`` only as an HTML block of the message
    text: the tag on a line of its own, its URL between, separated by blank lines."""
    for kind in ("video", "audio"):
        if file.content_type.startswith(f"{kind}/"):
            return f"<{kind}>\n{file.url}\n</{kind}>"
    return ""


def literal_block(text: str) -> str:
    """``text`` shown as it is (a fenced block longer than any backtick run inside it)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"
