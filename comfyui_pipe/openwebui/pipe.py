"""The Pipe function: one chat model per enabled workflow.

Open WebUI executes a shim that imports this class (see ``function_source``),
sets ``valves`` from its database before each call, and passes only the
``__dunder__`` arguments named in ``pipe``'s signature. Whatever goes wrong,
the user reads a sentence in the chat, never a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from open_webui.models.files import Files
from open_webui.models.users import Users

from comfyui_pipe.errors import UserError
from comfyui_pipe.generation.options import RequestOptions, parse_message, parse_size
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.service import GenerationRequest, GenerationService, InputImage
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.files import file_content_url
from comfyui_pipe.openwebui.input_images import image_from_data_url, image_from_file
from comfyui_pipe.openwebui.model_access import model_name
from comfyui_pipe.openwebui.progress_events import ChatProgress
from comfyui_pipe.openwebui.runtime import get_runtime
from comfyui_pipe.openwebui.valves import UserValves, Valves
from comfyui_pipe.progress.snapshot import ProgressSnapshot

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 10.0
TASK_ANSWER = "This model only generates images; it has nothing to add here."
CANCELLED_MESSAGE = "⏹️ Generation cancelled."
UNEXPECTED_FAILURE = "⚠️ The image could not be generated because of an unexpected error."

Emitter = Callable[[dict[str, Any]], Awaitable[Any]]


class Pipe:
    Valves = Valves
    UserValves = UserValves

    def __init__(self) -> None:
        self.valves = Valves()

    async def pipes(self) -> list[dict[str, str]]:
        """The chat models, one per offered workflow; never asks ComfyUI."""
        workflows = await (await get_runtime()).workflows()
        return [
            {"id": workflow.id, "name": model_name(workflow)} for workflow in workflows.values()
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
    ) -> str:
        if __task__:
            return TASK_ANSWER
        metadata = __metadata__ or {}
        try:
            text, images = last_user_message(body.get("messages", []))
            files = message_files(__files__ or [], metadata)
            if files:
                user = await Users.get_user_by_id(__user__["id"])
                images += [await image_from_file(file_id, user) for file_id in files]
            parsed = parse_message(text)
            request = GenerationRequest(
                owner_id=__user__["id"],
                workflow_id=workflow_id_of(body.get("model", "")),
                prompt=parsed.prompt,
                options=parsed.options,
                defaults=user_defaults(__user__.get("valves") or UserValves()),
                images=images,
                chat_id=__chat_id__,
                message_id=__message_id__,
            )
            service = (await get_runtime(__request__.app)).service
            progress = await chat_progress(
                metadata, __event_emitter__, previews=service.policy.previews
            )
            return await run_generation(service, request, progress)
        except UserError as error:
            return failure_message(error)
        except Exception:
            log.exception("The ComfyUI pipe failed")
            return UNEXPECTED_FAILURE


async def chat_progress(
    metadata: dict[str, Any], emitter: Emitter | None, *, previews: bool
) -> ChatProgress | None:
    """Progress for a chat message; none for calls without one (e.g. the API's completions)."""
    if emitter is None or not metadata.get("message_id"):
        return None
    return await ChatProgress.for_message(metadata, emitter, previews=previews)


async def run_generation(
    service: GenerationService,
    request: GenerationRequest,
    progress: ChatProgress | None,
) -> str:
    """Start, follow and finish one generation; the returned text is the assistant's reply.

    A refused request raises ``UserError`` from here before anything is queued.
    """

    async def on_progress(record: JobRecord, snapshot: ProgressSnapshot) -> None:
        if progress is not None:
            await progress.update(snapshot)

    started_at = time.monotonic()
    record = await service.start(request, on_progress=on_progress)
    try:
        record = await service.wait(record.id)
    except asyncio.CancelledError:
        await asyncio.shield(_cancel(service, record, progress))
        raise
    elapsed = time.monotonic() - started_at
    if record.state is JobState.COMPLETED:
        if progress is not None:
            await progress.finish(done_status(record, elapsed), await stored_files(record))
        return summarize(record, elapsed)
    if record.state is JobState.CANCELLED:
        if progress is not None:
            await progress.finish("Cancelled")
        return CANCELLED_MESSAGE
    if progress is not None:
        await progress.finish("Failed")
    return f"⚠️ {record.error or 'The generation failed.'}"


async def _cancel(
    service: GenerationService, record: JobRecord, progress: ChatProgress | None
) -> None:
    """Stop this message's job on ComfyUI and leave the message saying so."""
    try:
        async with asyncio.timeout(CANCEL_TIMEOUT):
            await service.cancel(record.id)
            if progress is not None:
                await progress.finish("Cancelled")
                await progress.replace_content(CANCELLED_MESSAGE)
    except Exception:
        # Stop must still end the response; the job's own timeout ends it on ComfyUI.
        log.warning("Cancelling job %s did not finish cleanly", record.id, exc_info=True)


async def stored_files(record: JobRecord) -> list[StoredFile]:
    """The job's outputs as Open WebUI files (the sink stored them; the record keeps ids)."""
    files = await Files.get_files_by_ids(record.output_file_ids)
    by_id = {file.id: file for file in files}
    return [
        StoredFile(
            id=file.id,
            url=file_content_url(file.id),
            name=file.filename,
            content_type=(file.meta or {}).get("content_type") or "image/png",
            size=(file.meta or {}).get("size") or 0,
        )
        for file in (by_id[file_id] for file_id in record.output_file_ids if file_id in by_id)
    ]


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


def user_defaults(valves: UserValves) -> RequestOptions:
    """A user's saved defaults, the size read with the same parser as inline options."""
    return replace(
        parse_size(valves.size),
        steps=valves.steps,
        cfg=valves.cfg,
        count=valves.count,
        negative_prompt=valves.negative_prompt or None,
    )


def failure_message(error: UserError) -> str:
    return f"⚠️ {error}"


def done_status(record: JobRecord, elapsed: float) -> str:
    seed = record.params.get("seed")
    parts = [f"Done in {elapsed:.1f} s"] + ([f"seed {seed}"] if seed is not None else [])
    return " · ".join(parts)


def summarize(record: JobRecord, elapsed: float) -> str:
    """The line under the images, e.g. ``Done in 14.2 s · seed 1234 · SDXL · sd_xl_base ·
    30 steps · cfg 6 · 1024×1024 · LoRA detail:0.8``."""
    params = record.params
    parts = [done_status(record, elapsed)]
    if params.get("title"):
        parts.append(str(params["title"]))
    if params.get("model"):
        parts.append(str(params["model"]).removesuffix(".safetensors"))
    if params.get("steps") is not None:
        parts.append(f"{params['steps']} steps")
    if params.get("cfg") is not None:
        parts.append(f"cfg {params['cfg']:g}")
    if params.get("width") and params.get("height"):
        parts.append(f"{params['width']}×{params['height']}")
    for lora in params.get("loras") or []:
        parts.append(f"LoRA {lora['name']}:{lora['strength']:g}")
    return " · ".join(parts)
