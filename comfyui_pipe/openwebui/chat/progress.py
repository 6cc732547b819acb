"""A generation's progress in the chat, through Open WebUI's event emitter.

Open WebUI's ``__event_emitter__`` writes every ``status`` event into the
saved chat (one database write each), so the frequent updates go through an
emitter built with ``update_db=False``. They arrive already throttled by the
job's progress relay (a new stage or step at once, the newest state of a step at
the end of each window, a preview at most once a second, with its step). Only the
final status and the final ``files`` list are persisted, which is what a reloaded
chat shows.

The chat UI replaces a message's file list with each ``files`` event, so a
message that already holds files (an earlier Tool call, an Action's new job)
keeps them on screen: previews and results are shown after them. Previews are
drawn at the size of the result (off the event loop), so the image does not jump
when it lands.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Sequence
from typing import Any

from PIL import Image

from comfyui_pipe.comfy.events import Preview
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.host import Emitter, HostEvents
from comfyui_pipe.progress import ProgressSnapshot


class ChatProgress:
    """The ``ProgressSink`` of a chat message: live updates, then one persisted end.

    ``caption_says_done``: the message's own text repeats the final status, so the
    status line is hidden once the job is done."""

    def __init__(
        self,
        live: Emitter,
        persisted: Emitter,
        *,
        shown_files: Sequence[dict[str, Any]] = (),
        caption_says_done: bool = False,
    ) -> None:
        self._live = live
        self._persisted = persisted
        self._shown_files = list(shown_files)
        self._caption_says_done = caption_says_done
        self._showed_preview = False

    @classmethod
    async def for_message(
        cls,
        events: HostEvents,
        metadata: dict[str, Any],
        persisted: Emitter,
        *,
        shown_files: Sequence[dict[str, Any]] = (),
        caption_says_done: bool = False,
    ) -> ChatProgress:
        """Pair the host's persisting emitter with a non-persisting one for the same message;
        ``shown_files`` are the files the message already shows."""
        live = await events.emitter(metadata, persisted=False)
        return cls(
            live,
            persisted,
            shown_files=shown_files,
            caption_says_done=caption_says_done,
        )

    async def show(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        await self._live(status_event(snapshot.describe(), done=False))
        if snapshot.preview is not None:
            preview = await asyncio.to_thread(preview_file, snapshot.preview, result_size(record))
            self._showed_preview = True
            await self._live(files_event([*self._shown_files, preview]))

    async def end(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        """Persist the final status and, when there are any, the stored outputs after the
        files the message already shows."""
        if record.state is JobState.COMPLETED:
            elapsed = (record.finished_at or record.created_at) - record.created_at
            status = done_status(record, elapsed)
            await self._persisted(status_event(status, done=True, hidden=self._caption_says_done))
        else:
            ended = "Cancelled" if record.state is JobState.CANCELLED else "Failed"
            await self._persisted(status_event(ended, done=True))
        if files:
            new_files = [chat_file(stored) for stored in files]
            await self._persisted(files_event(new_files))
            if self._shown_files:
                # the host stored the whole list; the screen got only the new files
                await self._live(files_event([*self._shown_files, *new_files]))
        elif self._showed_preview:
            # a failed or cancelled job leaves no image: take the live preview away
            await self._live(files_event(self._shown_files))

    async def replace_content(self, content: str) -> None:
        """Persist ``content`` as the message's text (for when the pipe cannot return it)."""
        await self._persisted({"type": "replace", "data": {"content": content}})


def done_status(record: JobRecord, elapsed: float) -> str:
    seed = record.params.get("seed")
    parts = [f"Done in {elapsed:.1f} s"] + ([f"seed {seed}"] if seed is not None else [])
    return " · ".join(parts)


def result_size(record: JobRecord) -> tuple[int, int] | None:
    """The size of the job's images, once its parameters are known."""
    width, height = record.params.get("width"), record.params.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return width, height
    return None


def status_event(description: str, *, done: bool, hidden: bool = False) -> dict[str, Any]:
    return {
        "type": "status",
        "data": {"description": description, "done": done, "hidden": hidden},
    }


def files_event(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "files", "data": {"files": files}}


def chat_file(stored: StoredFile) -> dict[str, Any]:
    """A stored output as the chat UI lists it: a same-origin URL, never ComfyUI's.

    The 0.12 UI shows ``image`` items inline and anything else (a video) as a
    ``file`` card that opens or downloads it.
    """
    kind = "image" if stored.content_type.startswith("image/") else "file"
    return {
        "type": kind,
        "id": stored.id,
        "url": stored.url,
        "name": stored.name,
        "content_type": stored.content_type,
        "size": stored.size,
    }


def preview_file(preview: Preview, size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The preview as a data-URL image, resized to ``size`` (the result's) when given."""
    url, image_type = preview.data_url, preview.image_type
    if size is not None:
        image, image_type = resized(preview.image, image_type, size)
        if image is not preview.image:
            url = f"data:{image_type};base64,{base64.b64encode(image).decode('ascii')}"
    return {"type": "image", "url": url, "name": "preview", "content_type": image_type}


def resized(image: bytes, image_type: str, size: tuple[int, int]) -> tuple[bytes, str]:
    """``image`` (of ``image_type``) as a JPEG of ``size``, with its type; unchanged when
    it has that size already or cannot be read."""
    try:
        with Image.open(io.BytesIO(image)) as opened:
            if opened.size == size:
                return image, image_type
            scaled = opened.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    except Exception:  # Pillow raises many kinds for bytes it cannot read
        return image, image_type
    buffer = io.BytesIO()
    scaled.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue(), "image/jpeg"
