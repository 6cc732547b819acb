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
from dataclasses import dataclass, replace
from typing import Any

from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.options import RequestOptions, parse_size
from comfyui_pipe.openwebui.catalog.choice import Purpose
from comfyui_pipe.openwebui.chat.reply import model_summary, nothing_made
from comfyui_pipe.openwebui.chat.turn import Asked, ChatMessage, ChatTurn
from comfyui_pipe.openwebui.host import Emitter, OpenWebUIHost
from comfyui_pipe.openwebui.presenter import UNEXPECTED_IN_TOOL, describe
from comfyui_pipe.openwebui.runtime import get_runtime

log = logging.getLogger(__name__)

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

    def source_message_ids(self) -> tuple[str | None, ...]:
        """Where "the image of this message" is looked for: the reply being written, the
        user's message, then the message before it."""
        user_message = self.metadata.get("user_message") or {}
        return (self.message_id, user_message.get("id"), user_message.get("parentId"))

    async def message(self, host: OpenWebUIHost) -> ChatMessage:
        """The reply being written, with the files it already shows (an earlier call's)."""
        shown: list[dict[str, Any]] = []
        if self.chat_id and self.message_id:
            message = await host.chats.message(self.chat_id, self.message_id)
            shown = list((message or {}).get("files") or [])
        return ChatMessage(
            self.chat_id,
            self.message_id,
            self.metadata,
            self.emitter,
            shown_files=shown,
            image_sources=self.source_message_ids(),
        )


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
        job = Asked(prompt, options, workflow, Purpose.IMAGE)
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
        job = Asked(instruction, RequestOptions(seed=seed), workflow, Purpose.EDIT)
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
        job = Asked(prompt, _options(size, seed=seed), workflow, purpose)
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
        job = Asked(UPSCALE_PROMPT, RequestOptions(), workflow, Purpose.UPSCALE)
        return await _run(
            job, ToolCall(__user__ or {}, __request__, __event_emitter__, __metadata__ or {})
        )


def _options(size: str | None, **values: Any) -> RequestOptions:
    """The model's arguments as the options a chat message would give."""
    given = {name: value for name, value in values.items() if value not in (None, "")}
    return replace(parse_size(size or ""), **given)


async def _run(job: Asked, call: ToolCall) -> str:
    """The sentence the model gets back, whatever happens (Stop excepted)."""
    try:
        runtime = await get_runtime(call.request.app)
        turn = ChatTurn(runtime)
        user = await turn.asker(call.user.get("id"))
        turned = await turn.run(user, job, await call.message(runtime.host))
    except PipeError as error:
        return nothing_made(describe(error))
    except Exception:
        log.exception("The ComfyUI tool failed")
        return UNEXPECTED_IN_TOOL
    return model_summary(turned.finished, turned.workflow.title)
