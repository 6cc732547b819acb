"""The Tool: generate, edit, animate and upscale from any tool-calling chat model.

Open WebUI offers each public method of ``Tools`` to the model (its docstring
and ``:param`` lines become the function's description) and runs the call on
the server, in the chat's request: our progress goes to the assistant message
through its event emitter, the chat's Stop cancels the call (and with it
exactly this job), the outputs are attached to the message as files. The model
gets a short sentence back — what was made, seed, size, file reference, or why
nothing was — never the image itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.generation.options import RequestOptions, parse_size
from comfyui_pipe.generation.request import GenerationRequest, InputImage
from comfyui_pipe.openwebui.catalog.choice import Purpose, choose_workflow
from comfyui_pipe.openwebui.chat.context import latest_chat_image
from comfyui_pipe.openwebui.chat.defaults import stored_defaults
from comfyui_pipe.openwebui.chat.job import run_job
from comfyui_pipe.openwebui.chat.progress import ChatProgress
from comfyui_pipe.openwebui.chat.reply import model_summary, nothing_made
from comfyui_pipe.openwebui.host import Emitter, OpenWebUIHost, User
from comfyui_pipe.openwebui.presenter import describe
from comfyui_pipe.openwebui.runtime import get_runtime

log = logging.getLogger(__name__)

UNEXPECTED_FAILURE = "Nothing was made because of an unexpected error in the ComfyUI tool."
UPSCALE_PROMPT = "upscale"


@dataclass(frozen=True)
class ToolCall:
    """What Open WebUI tells a tool call about its chat."""

    user: dict[str, Any]
    request: Any
    emitter: Emitter | None
    metadata: dict[str, Any]

    @property
    def chat_id(self) -> str | None:
        return self.metadata.get("chat_id")

    @property
    def message_id(self) -> str | None:
        return self.metadata.get("message_id")

    def source_message_ids(self) -> list[str | None]:
        """Where "the image of this message" is looked for: the reply being written, the
        user's message, then the message before it."""
        user_message = self.metadata.get("user_message") or {}
        return [self.message_id, user_message.get("id"), user_message.get("parentId")]


@dataclass(frozen=True)
class Job:
    """One job the Tool was asked for."""

    purpose: Purpose
    prompt: str
    workflow: str | None = None
    options: RequestOptions = field(default_factory=RequestOptions)
    needs_image: bool = False


class Tools:
    async def generate_image(
        self,
        prompt: str,
        workflow: str | None = None,
        size: str | None = None,
        count: int | None = None,
        seed: int | None = None,
        negative_prompt: str | None = None,
        __user__: dict[str, Any] | None = None,
        __request__: Any = None,
        __event_emitter__: Emitter | None = None,
        __metadata__: dict[str, Any] | None = None,
    ) -> str:
        """
        Generate new images from a text description with ComfyUI. The user sees live
        progress and the images in the chat; you get a short summary back.

        :param prompt: What the image shows, as a detailed visual description in English.
        :param workflow: Optional workflow id to use (only if the user names one).
        :param size: Optional size as WIDTHxHEIGHT (e.g. "1024x768") or an aspect ratio ("16:9").
        :param count: Optional number of images to make at once.
        :param seed: Optional seed, to repeat or vary an earlier result.
        :param negative_prompt: Optional things the image must not show, comma-separated.
        """
        options = _options(size, count=count, seed=seed, negative_prompt=negative_prompt)
        job = Job(Purpose.IMAGE, prompt, workflow, options)
        return await _run(
            job, ToolCall(__user__ or {}, __request__, __event_emitter__, __metadata__ or {})
        )

    async def edit_image(
        self,
        instruction: str,
        workflow: str | None = None,
        seed: int | None = None,
        __user__: dict[str, Any] | None = None,
        __request__: Any = None,
        __event_emitter__: Emitter | None = None,
        __metadata__: dict[str, Any] | None = None,
    ) -> str:
        """
        Change an existing image following an instruction ("make it bluer", "add a hat").
        Uses the image attached to the user's message, otherwise the latest image in this
        chat; the user does not need to attach it again.

        :param instruction: The change to make, or a description of the wanted result.
        :param workflow: Optional workflow id to use (only if the user names one).
        :param seed: Optional seed, to repeat or vary an earlier result.
        """
        job = Job(Purpose.EDIT, instruction, workflow, RequestOptions(seed=seed), True)
        return await _run(
            job, ToolCall(__user__ or {}, __request__, __event_emitter__, __metadata__ or {})
        )

    async def make_video(
        self,
        prompt: str,
        from_image: bool = False,
        workflow: str | None = None,
        size: str | None = None,
        seed: int | None = None,
        __user__: dict[str, Any] | None = None,
        __request__: Any = None,
        __event_emitter__: Emitter | None = None,
        __metadata__: dict[str, Any] | None = None,
    ) -> str:
        """
        Make a short video clip with ComfyUI from a text description, optionally starting
        from an image (the one attached to the user's message, otherwise the latest image
        in this chat).

        :param prompt: What happens in the video, as a visual description in English.
        :param from_image: True to animate the latest image of the chat instead of a blank start.
        :param workflow: Optional workflow id to use (only if the user names one).
        :param size: Optional size as WIDTHxHEIGHT or an aspect ratio like "16:9".
        :param seed: Optional seed, to repeat or vary an earlier result.
        """
        purpose = Purpose.VIDEO_FROM_IMAGE if from_image else Purpose.VIDEO
        job = Job(purpose, prompt, workflow, _options(size, seed=seed), from_image)
        return await _run(
            job, ToolCall(__user__ or {}, __request__, __event_emitter__, __metadata__ or {})
        )

    async def upscale_image(
        self,
        workflow: str | None = None,
        __user__: dict[str, Any] | None = None,
        __request__: Any = None,
        __event_emitter__: Emitter | None = None,
        __metadata__: dict[str, Any] | None = None,
    ) -> str:
        """
        Upscale an image to a higher resolution: the image attached to the user's message,
        otherwise the latest image in this chat.

        :param workflow: Optional workflow id to use (only if the user names one).
        """
        job = Job(Purpose.UPSCALE, UPSCALE_PROMPT, workflow, RequestOptions(), True)
        return await _run(
            job, ToolCall(__user__ or {}, __request__, __event_emitter__, __metadata__ or {})
        )


def _options(size: str | None, **values: Any) -> RequestOptions:
    """The model's arguments as the options a chat message would give."""
    given = {name: value for name, value in values.items() if value not in (None, "")}
    return replace(parse_size(size or ""), **given)


async def _run(job: Job, call: ToolCall) -> str:
    """The sentence the model gets back, whatever happens (Stop excepted)."""
    try:
        runtime = await get_runtime(call.request.app)
        host = runtime.host
        user = await host.users.get(call.user.get("id", ""))
        if user is None:
            raise RequestError("The ComfyUI tool could not tell who is asking.")
        service = runtime.service
        workflow = await choose_workflow(
            host, service.workflows, service.pool, job.purpose, user, job.workflow
        )
        images = [await _source_image(host, user, call)] if job.needs_image else []
        request = GenerationRequest(
            owner_id=user.id,
            workflow_id=workflow.id,
            prompt=job.prompt,
            options=job.options,
            defaults=await stored_defaults(host.plugins, user.id),
            images=images,
            chat_id=call.chat_id,
            message_id=call.message_id,
        )
        progress = await _progress(host, call)
        finished = await run_job(service, host.files, request, progress)
    except PipeError as error:
        return nothing_made(describe(error))
    except Exception:
        log.exception("The ComfyUI tool failed")
        return UNEXPECTED_FAILURE
    return model_summary(finished, workflow.title)


async def _source_image(host: OpenWebUIHost, user: User, call: ToolCall) -> InputImage:
    return await latest_chat_image(host, user, call.chat_id, call.source_message_ids())


async def _progress(host: OpenWebUIHost, call: ToolCall) -> ChatProgress | None:
    if call.emitter is None or not call.message_id:
        return None
    shown: list[dict[str, Any]] = []
    if call.chat_id:
        message = await host.chats.message(call.chat_id, call.message_id)
        shown = list((message or {}).get("files") or [])
    return await ChatProgress.for_message(
        host.events, call.metadata, call.emitter, shown_files=shown
    )
