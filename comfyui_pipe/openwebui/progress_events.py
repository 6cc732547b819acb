"""A generation's progress in the chat, through Open WebUI's event emitter.

Open WebUI's ``__event_emitter__`` writes every ``status`` event into the
saved chat (one database write each), so the frequent updates go through an
emitter built with ``update_db=False``: throttled, and sent at once whenever
the stage changes. Only the final status and the final ``files`` list are
persisted, which is what a reloaded chat shows.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from comfyui_pipe.comfy.events import Preview
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.progress import ProgressSnapshot, Stage

Emitter = Callable[[dict[str, Any]], Awaitable[Any]]

STATUS_INTERVAL = 0.5
PREVIEW_INTERVAL = 1.0


class ChatProgress:
    """Sends one chat message's progress: live, throttled updates, then one persisted end."""

    def __init__(
        self,
        live: Emitter,
        persisted: Emitter,
        *,
        previews: bool,
        status_interval: float = STATUS_INTERVAL,
        preview_interval: float = PREVIEW_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._live = live
        self._persisted = persisted
        self._previews = previews
        self._status_interval = status_interval
        self._preview_interval = preview_interval
        self._clock = clock
        self._last_stage: Stage | None = None
        self._last_status_at = float("-inf")
        self._last_preview: Preview | None = None
        self._last_preview_at = float("-inf")

    @classmethod
    async def for_message(
        cls, metadata: dict[str, Any], persisted: Emitter, *, previews: bool
    ) -> ChatProgress:
        """Pair the host's persisting emitter with a non-persisting one for the same message."""
        from open_webui.socket.main import get_event_emitter

        live = await get_event_emitter(metadata, update_db=False)
        return cls(live or persisted, persisted, previews=previews)

    async def update(self, snapshot: ProgressSnapshot) -> None:
        """Forward a snapshot if the stage changed or enough time has passed."""
        if snapshot.finished:
            return  # the outcome is for finish(), persisted
        now = self._clock()
        stage = snapshot.stage
        if stage is not self._last_stage or now - self._last_status_at >= self._status_interval:
            self._last_stage = stage
            self._last_status_at = now
            await self._live(status_event(snapshot.describe(), done=False))
        preview = snapshot.preview
        if (
            self._previews
            and preview is not None
            and preview is not self._last_preview
            and now - self._last_preview_at >= self._preview_interval
        ):
            self._last_preview = preview
            self._last_preview_at = now
            await self._live(files_event([preview_file(preview)]))

    async def finish(self, description: str, files: Sequence[StoredFile] = ()) -> None:
        """Persist the final status and, when there are any, the stored outputs."""
        await self._persisted(status_event(description, done=True))
        if files:
            await self._persisted(files_event([chat_file(stored) for stored in files]))
        elif self._last_preview is not None:
            # a failed or cancelled job leaves no image: take the live preview away
            await self._live(files_event([]))

    async def replace_content(self, content: str) -> None:
        """Persist ``content`` as the message's text (for when the pipe cannot return it)."""
        await self._persisted({"type": "replace", "data": {"content": content}})


def status_event(description: str, *, done: bool) -> dict[str, Any]:
    return {"type": "status", "data": {"description": description, "done": done, "hidden": False}}


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


def preview_file(preview: Preview) -> dict[str, Any]:
    encoded = base64.b64encode(preview.image).decode("ascii")
    return {
        "type": "image",
        "url": f"data:{preview.image_type};base64,{encoded}",
        "name": "preview",
        "content_type": preview.image_type,
    }
