"""Deleting one of a user's generations everywhere it shows: its file (bytes and row: it
leaves the user's Open WebUI Files), its place in the gallery, and the chat message it
was made in, which loses the file and says, in its text, that it was deleted."""

from __future__ import annotations

from typing import Any

from comfyui_pipe.openwebui.chat.media_filter import append_text
from comfyui_pipe.openwebui.host import OpenWebUIHost

from .table import Output, SqlGallery

CONSOLE_NAME = "the ComfyUI console"


async def remove_generation(host: OpenWebUIHost, gallery: SqlGallery, output: Output) -> None:
    stored = await host.files.get(output.file_id)
    if stored is not None:
        await host.files.delete(stored)
    await gallery.remove([output.file_id])
    if output.chat_id and output.message_id:
        note = f"🗑️ {output.name} was deleted in {CONSOLE_NAME}."
        await _tell_the_chat(host, output.chat_id, output.message_id, output.file_id, note)


async def _tell_the_chat(
    host: OpenWebUIHost, chat_id: str, message_id: str, file_id: str, note: str
) -> None:
    message = await host.chats.message(chat_id, message_id)
    if not message:
        return  # the chat, or the message, is gone
    await host.chats.unlink_file(chat_id, file_id)
    files = [item for item in message.get("files") or [] if not _is_file(item, file_id)]
    content = str(message.get("content") or "")
    addition = f"\n\n{note}" if content else note
    change: dict[str, Any] = {"files": files, "content": content + addition}
    if isinstance(message.get("output"), list):
        output = list(message["output"])
        append_text(output, addition)
        change["output"] = output
    await host.chats.change_message(chat_id, message_id, change)


def _is_file(item: Any, file_id: str) -> bool:
    if not isinstance(item, dict):
        return False
    return item.get("id") == file_id or file_id in str(item.get("url") or "")
