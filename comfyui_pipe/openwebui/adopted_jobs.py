"""Where the progress and the end of an adopted job go: the request that started it died
with its process, so the adopting process finishes its chat message (status, files,
text) or sends its API events itself, through Open WebUI's socket layer (which, with
``WEBSOCKET_MANAGER=redis``, reaches the user whichever replica they are connected to).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from open_webui.models.chats import Chats
from open_webui.socket.main import get_event_emitter

from comfyui_pipe.generation.progress_relay import ProgressCallback
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.chat_job import FinishedJob, done_status, result_size
from comfyui_pipe.openwebui.progress_events import ChatProgress
from comfyui_pipe.progress import ProgressSnapshot

# The Pipe's and the API's words are imported where used: both import the runtime,
# which builds this delivery.


class AdoptedJobDelivery:
    """The ``Delivery`` of the generation service on Open WebUI."""

    def __init__(self, previews: bool = True) -> None:
        self.previews = previews
        self._chats: dict[str, ChatProgress] = {}

    async def progress(self, record: JobRecord) -> ProgressCallback | None:
        if not _in_chat(record):
            from comfyui_pipe.openwebui.routes.job_events import JobEvents

            return JobEvents(record.owner_id).progress
        chat = await self._chat(record)

        async def show(record: JobRecord, snapshot: ProgressSnapshot) -> None:
            await chat.update(snapshot, result_size(record))

        return show

    async def finished(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        if not _in_chat(record):
            from comfyui_pipe.openwebui.routes.job_events import JOB_EVENT, job_event_data

            emit = await get_event_emitter(_room(record, chat=False), update_db=False)
            await emit({"type": JOB_EVENT, "data": job_event_data(record, record.progress or {})})
            return
        chat = self._chats.pop(record.id, None) or await self._chat(record, keep=False)
        elapsed = (record.finished_at or time.time()) - record.created_at
        if record.state is JobState.COMPLETED:
            from comfyui_pipe.openwebui.pipe import reply

            await chat.finish(done_status(record, elapsed), files, hidden=True)
            content = reply(FinishedJob(record, list(files), elapsed))
        elif record.state is JobState.CANCELLED:
            from comfyui_pipe.openwebui.pipe import CANCELLED_MESSAGE

            await chat.finish("Cancelled")
            content = CANCELLED_MESSAGE
        else:
            await chat.finish("Failed")
            content = f"⚠️ {record.error or 'The generation failed.'}"
        await chat.replace_content(content)
        assert record.chat_id is not None and record.message_id is not None
        await Chats.upsert_message_to_chat_by_id_and_message_id(
            record.chat_id, record.message_id, {"done": True}
        )

    async def _chat(self, record: JobRecord, keep: bool = True) -> ChatProgress:
        metadata = _room(record, chat=True)
        persisted = await get_event_emitter(metadata)
        assert persisted is not None
        chat = await ChatProgress.for_message(metadata, persisted, previews=self.previews)
        if keep:
            self._chats[record.id] = chat
        return chat


def _in_chat(record: JobRecord) -> bool:
    return bool(record.chat_id and record.message_id)


def _room(record: JobRecord, *, chat: bool) -> dict[str, Any]:
    return {
        "user_id": record.owner_id,
        "chat_id": record.chat_id if chat else None,
        "message_id": record.message_id if chat else None,
    }
