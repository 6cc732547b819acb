"""Where the progress and the end of an adopted job go: the request that started it died
with its process, so the adopting process finishes its chat message (status, files,
text) or sends its API events itself, through Open WebUI's socket layer (which, with
``WEBSOCKET_MANAGER=redis``, reaches the user whichever replica they are connected to).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from comfyui_pipe.generation.progress_relay import ProgressSink
from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.api.events import JobEvents
from comfyui_pipe.openwebui.chat.job import FinishedJob
from comfyui_pipe.openwebui.chat.progress import ChatProgress
from comfyui_pipe.openwebui.chat.reply import reply
from comfyui_pipe.openwebui.host import HostChats, OpenWebUIHost
from comfyui_pipe.progress import ProgressSnapshot


class AdoptedJobDelivery:
    """The ``Delivery`` of the generation service on Open WebUI."""

    def __init__(self, host: OpenWebUIHost) -> None:
        self._host = host

    async def sink_for(self, record: JobRecord) -> ProgressSink:
        events = self._host.events
        if not (record.chat_id and record.message_id):
            return JobEvents(events, record.owner_id)
        metadata: dict[str, Any] = {
            "user_id": record.owner_id,
            "chat_id": record.chat_id,
            "message_id": record.message_id,
        }
        persisted = await events.emitter(metadata, persisted=True)
        chat = await ChatProgress.for_message(events, metadata, persisted, caption_says_done=True)
        return AdoptedChatMessage(self._host.chats, chat)


class AdoptedChatMessage:
    """An adopted chat job's message: its progress, then what the Pipe would have
    answered, and the message marked done."""

    def __init__(self, chats: HostChats, chat: ChatProgress) -> None:
        self._chats = chats
        self._chat = chat

    async def show(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        await self._chat.show(record, snapshot)

    async def end(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        await self._chat.end(record, files)
        await self._chat.replace_content(reply(FinishedJob(record, list(files))))
        assert record.chat_id is not None and record.message_id is not None
        await self._chats.mark_done(record.chat_id, record.message_id)
