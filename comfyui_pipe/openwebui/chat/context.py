"""What a follow-up in a chat refers to: the latest image of the conversation.

"Make it bluer" names no image: it means the image attached to the message
being answered, else the last image before it — one the user attached or one
we generated. The chat is read from Open WebUI's database (only the user's own
chat), walking from the message being answered up through its parents, so a
branch of the conversation never picks an image from another branch. The file
is read with the same access check as any attachment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.generation.request import InputImage
from comfyui_pipe.openwebui.host import HostFiles, OpenWebUIHost, User
from comfyui_pipe.openwebui.store.input_images import image_from_data_url, image_from_file

_FILE_URL = re.compile(r"/api/v1/files/([^/?#]+)/content")


class NoImageInChat(RequestError):
    def __init__(self) -> None:
        super().__init__("There is no image in this chat to work on; attach one to the message.")


async def latest_chat_image(
    host: OpenWebUIHost, user: User, chat_id: str | None, message_ids: list[str | None]
) -> InputImage:
    """The newest image on the path to the first of ``message_ids`` found in the chat
    (the message being answered, then its user message, then that one's parent)."""
    messages = await host.chats.messages(chat_id, user.id) if chat_id else None
    if messages is None:
        raise NoImageInChat()
    start = next((m for m in message_ids if m and m in messages), None)
    for message in _lineage(messages, start):
        for item in reversed(message.get("files") or []):
            image = await _image_of(host.files, item, user)
            if image is not None:
                return image
    raise NoImageInChat()


def file_id_of_image(item: dict[str, Any]) -> str | None:
    """The Open WebUI file id of a message's image item, if it is a stored file."""
    if not _is_image(item):
        return None
    found = _FILE_URL.search(str(item.get("url") or ""))
    return str(item.get("id") or (found.group(1) if found else "")) or None


def _lineage(messages: dict[str, Any], start: str | None) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    current = start
    while current and current in messages and current not in seen:
        seen.add(current)
        yield messages[current]
        current = messages[current].get("parentId")


def _is_image(item: dict[str, Any]) -> bool:
    content_type = str(
        item.get("content_type") or (item.get("meta") or {}).get("content_type") or ""
    )
    return item.get("type") == "image" or content_type.startswith("image/")


async def _image_of(files: HostFiles, item: dict[str, Any], user: User) -> InputImage | None:
    if not _is_image(item):
        return None
    url = str(item.get("url") or "")
    if url.startswith("data:"):
        if item.get("name") == "preview":
            return None
        return image_from_data_url(url, "chat-image")
    file_id = file_id_of_image(item)
    return await image_from_file(files, file_id, user) if file_id else None
