"""What the console's routes need of Open WebUI beyond what the rest of the plugin uses:
users' names, deleting a stored file, and a chat message told that one of its files
was removed. The one module of the console's code that imports Open WebUI."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from open_webui.models.chats import Chats
from open_webui.models.files import Files
from open_webui.models.users import Users
from open_webui.storage.provider import Storage

from comfyui_pipe.openwebui.chat.media_filter import append_text


async def user_names(user_ids: Sequence[str]) -> dict[str, str]:
    """Each known user's name, by id."""
    if not user_ids:
        return {}
    users = await Users.get_users_by_user_ids(list(set(user_ids)))
    return {user.id: user.name for user in users}


async def delete_stored_file(file_id: str) -> bool:
    """Remove an Open WebUI file: its bytes from the storage and its row (so it leaves the
    user's Files). False when there was none."""
    found = await Files.get_file_by_id(file_id)
    if found is None:
        return False
    if found.path:
        await asyncio.to_thread(Storage.delete_file, found.path)
    await Files.delete_file_by_id(file_id)
    return True


async def note_removed_file(chat_id: str, message_id: str, file_id: str, note: str) -> bool:
    """Take the file off the chat message (its files and its link to the chat) and add
    ``note`` to the message's text. False when the message is gone."""
    message = await Chats.get_message_by_id_and_message_id(chat_id, message_id)
    if not message:
        return False
    await Chats.delete_chat_file(chat_id, file_id)
    files = [item for item in message.get("files") or [] if not _is_file(item, file_id)]
    content = str(message.get("content") or "")
    addition = f"\n\n{note}" if content else note
    change: dict[str, Any] = {"files": files, "content": content + addition}
    if isinstance(message.get("output"), list):
        output = list(message["output"])
        append_text(output, addition)
        change["output"] = output
    updated = await Chats.upsert_message_to_chat_by_id_and_message_id(chat_id, message_id, change)
    return updated is not None


def _is_file(item: Any, file_id: str) -> bool:
    if not isinstance(item, dict):
        return False
    return item.get("id") == file_id or file_id in str(item.get("url") or "")
