"""The Pipe function: one chat model per enabled workflow.

Open WebUI executes a shim that imports this class (see ``function_source``) and
passes only the ``__dunder__`` arguments named in ``pipe``'s signature. Its ``Valves``
class (the plugin's settings) is the admin form; an instance has no ``valves``, so
Open WebUI does not read them from its database before each call: the plugin's
runtime keeps the settings in use (see ``runtime``). Whatever goes wrong, the user
reads a sentence in the chat, never a stack trace.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from comfyui_pipe.config import PipeConfig
from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.generation.limits import check_lists
from comfyui_pipe.generation.options import parse_message
from comfyui_pipe.generation.request import InputImage
from comfyui_pipe.openwebui.catalog.chat_models import model_name
from comfyui_pipe.openwebui.chat.reply import failure_message, reply
from comfyui_pipe.openwebui.chat.turn import Asked, ChatMessage, ChatTurn
from comfyui_pipe.openwebui.host import Emitter
from comfyui_pipe.openwebui.presenter import UNEXPECTED_IN_CHAT, describe
from comfyui_pipe.openwebui.runtime import get_runtime
from comfyui_pipe.openwebui.store.input_images import image_from_data_url, image_from_file
from comfyui_pipe.openwebui.valves import UserValves

log = logging.getLogger(__name__)

TASK_ANSWER = "This model only generates images; it has nothing to add here."
TITLE_LENGTH = 60


class Pipe:
    Valves = PipeConfig
    UserValves = UserValves

    async def pipes(self) -> list[dict[str, str]]:
        """The chat models, one per offered workflow, those that cannot run named so (from
        the node schemas already fetched: never waits for ComfyUI)."""
        runtime = await get_runtime()
        workflows = await runtime.workflows()
        missing = runtime.availability.known_missing(workflows.values(), runtime.service.pool)
        await runtime.models.show_availability(workflows.values(), missing)
        return [
            {"id": workflow.id, "name": model_name(workflow, workflow.id in missing)}
            for workflow in workflows.values()
        ]

    async def pipe(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any],
        __request__: Any,
        __event_emitter__: Emitter | None = None,
        __metadata__: dict[str, Any] | None = None,
        __chat_id__: str | None = None,
        __message_id__: str | None = None,
        __files__: list[dict[str, Any]] | None = None,
        __task__: str | None = None,
        __task_body__: dict[str, Any] | None = None,
    ) -> str:
        """The chat turn of the model's workflow; the returned text is the reply."""
        if __task__:
            return task_answer(__task__, __task_body__ or body)
        metadata = __metadata__ or {}
        try:
            runtime = await get_runtime(__request__.app)
            turn = ChatTurn(runtime)
            user = await turn.asker(__user__.get("id"))
            text, images = last_user_message(body.get("messages", []))
            file_ids = message_files(__files__ or [], metadata)
            check_lists(None, 0, len(images) + len(file_ids))  # before reading the files
            images += [
                await image_from_file(runtime.host.files, file_id, user) for file_id in file_ids
            ]
            parsed = parse_message(text)
            model = workflow_id_of(body.get("model", ""))
            asked = Asked(parsed.prompt, parsed.options, workflow=model, images=images)
            user_message = metadata.get("user_message") or {}
            message = ChatMessage(
                __chat_id__,
                __message_id__,
                metadata,
                __event_emitter__,
                image_sources=(user_message.get("id"), user_message.get("parentId")),
                text_is_the_reply=True,
            )
            return reply((await turn.run(user, asked, message)).finished)
        except PipeError as error:
            return failure_message(describe(error))
        except Exception:
            log.exception("The ComfyUI pipe failed")
            return failure_message(UNEXPECTED_IN_CHAT)


def task_answer(task: str, task_body: dict[str, Any]) -> str:
    """Open WebUI's background tasks when this model is the task model: the title is the
    prompt without its inline options; there are no follow-ups or tags to suggest."""
    if task == "title_generation":
        return json.dumps({"title": chat_title(task_body.get("messages") or [])})
    if task == "follow_up_generation":
        return json.dumps({"follow_ups": []})
    if task == "tags_generation":
        return json.dumps({"tags": []})
    return TASK_ANSWER


def chat_title(messages: list[dict[str, Any]]) -> str:
    """The first prompt of the chat, without ``--options`` and LoRA tags, shortened."""
    first = next((m for m in messages if m.get("role") == "user"), None)
    text, _ = last_user_message([first] if first else [])
    try:
        prompt = parse_message(text).prompt
    except RequestError:
        prompt = text.split("--", 1)[0].strip()
    if len(prompt) > TITLE_LENGTH:
        prompt = prompt[: TITLE_LENGTH - 1].rsplit(" ", 1)[0] + "…"
    return prompt or "Image"


def last_user_message(messages: list[dict[str, Any]]) -> tuple[str, list[InputImage]]:
    """The prompt text and the inline (data URL) images of the last user message."""
    message = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if message is None:
        return "", []
    content = message.get("content") or ""
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    images: list[InputImage] = []
    for part in content:
        if part.get("type") == "text":
            texts.append(part.get("text", ""))
        elif part.get("type") == "image_url":
            url = part.get("image_url")
            url = url.get("url", "") if isinstance(url, dict) else str(url or "")
            images.append(image_from_data_url(url, f"image-{len(images) + 1}"))
    return "\n".join(texts), images


def message_files(files: list[dict[str, Any]], metadata: dict[str, Any]) -> list[str]:
    """The ids of the non-image files attached to the message being answered.

    ``__files__`` holds every file attached so far in the chat (the web UI sends
    them all again with each message): only the last user message's own count.
    Images are not read from here: Open WebUI puts them in the message content.
    """
    user_message = metadata.get("user_message")
    own = None
    if user_message is not None:
        own = {file_id_of(item) for item in user_message.get("files") or []}
    wanted: list[str] = []
    for item in files:
        file_id = file_id_of(item)
        if file_id and file_id not in wanted and not is_inline_image(item):
            if own is None or file_id in own:
                wanted.append(file_id)
    return wanted


def file_id_of(item: dict[str, Any]) -> str | None:
    return item.get("id") or (item.get("file") or {}).get("id")


def is_inline_image(item: dict[str, Any]) -> bool:
    """Whether the web UI sends this attachment as an image part of the message."""
    content_type = item.get("content_type") or ""
    raster = content_type.startswith("image/") and content_type != "image/svg+xml"
    return item.get("type") == "image" or raster


def workflow_id_of(model_id: str) -> str:
    """``comfyui.sdxl_txt2img`` → ``sdxl_txt2img``."""
    return model_id.split(".", 1)[1] if "." in model_id else model_id
