"""The outlet Filter: a chat message that holds our videos or sounds plays them.

Open WebUI 0.12 plays a video or a sound only from a ``<video>`` / ``<audio>`` block
in the message text. When the Tool makes one, the text that is shown and saved is
the model's own answer (each model update replaces the message text), so the
player appears only if the model copied the lines the Tool gave it. Once the
answer is complete, Open WebUI runs the outlet of every active global Filter on
the chat's messages (``outlet_filter_handler`` in ``utils/middleware.py``), saves
a changed text and sends it to the page (``chat:outlet``). This Filter appends
the player of each of our video and audio files linked to the answer that its
text does not already hold; any other message comes back as it was.
"""

from __future__ import annotations

import logging
from typing import Any

from comfyui_pipe.openwebui.chat.job import IMAGE_BY_DEFAULT
from comfyui_pipe.openwebui.chat.reply import media_player
from comfyui_pipe.openwebui.host import OpenWebUIHost
from comfyui_pipe.openwebui.runtime import get_runtime
from comfyui_pipe.openwebui.store.files import stored_file

log = logging.getLogger(__name__)


class Filter:
    async def outlet(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any] | None = None,
        __request__: Any = None,
    ) -> dict[str, Any]:
        try:
            runtime = await get_runtime(__request__.app if __request__ is not None else None)
            await show_media_players(runtime.host, body, (__user__ or {}).get("id"))
        except Exception:
            # our players are missing; the other filters and the answer are not
            log.exception("Could not add the ComfyUI players to message %s", body.get("id"))
        return body


async def show_media_players(
    host: OpenWebUIHost, body: dict[str, Any], user_id: str | None
) -> None:
    """Append to the answer in ``body`` the players of its media files that it lacks."""
    chat_id, message_id = body.get("chat_id"), body.get("id")
    answer = next((m for m in body.get("messages") or [] if m.get("id") == message_id), None)
    if not (chat_id and message_id and user_id and answer):
        return
    players = await media_players(host, chat_id, message_id, user_id)
    content = answer.get("content") or ""
    missing = "\n\n".join(player for player in players if player not in content)
    if not missing:
        return
    addition = f"\n\n{missing}" if content else missing
    answer["content"] = content + addition
    if isinstance(answer.get("output"), list):
        append_text(answer["output"], addition)


def append_text(output: list[dict[str, Any]], text: str) -> None:
    """Add ``text`` to the end of the answer's last message item (the page draws a
    message that has output items from them, not from its content)."""
    part = {"type": "output_text", "text": text}
    messages = [item for item in output if item.get("type") == "message"]
    if messages and isinstance(messages[-1].get("content"), list):
        messages[-1]["content"].append(part)
    else:
        output.append(
            {"type": "message", "role": "assistant", "status": "completed", "content": [part]}
        )


async def media_players(
    host: OpenWebUIHost, chat_id: str, message_id: str, user_id: str
) -> list[str]:
    """The players of the video and audio outputs we stored for ``user_id`` and linked to
    this message, in the order they were linked."""
    linked = await host.chats.linked_file_ids(chat_id, message_id)
    if not linked:
        return []
    files = {file.id: file for file in await host.files.many(linked)}
    ours = [
        files[file_id]
        for file_id in linked
        if file_id in files
        and files[file_id].user_id == user_id
        and "comfyui" in files[file_id].meta
    ]
    players = (media_player(stored_file(file, IMAGE_BY_DEFAULT)) for file in ours)
    return [player for player in players if player]
