"""One chat turn: who asks, in which message, for what — to a finished job shown in that
message. The Pipe, the Tool and the Actions all go through :class:`ChatTurn`; each
reads only its own input (a message, a tool call's arguments, a pressed button) and
words the outcome for its own reader (see ``reply``).

The same rules for all three: the workflow is the one named, else chosen for the
purpose (``catalog.choice``); a workflow that takes images and was given none works on
the chat's latest image (``context``); the user's saved defaults (the Pipe's user
valves) fill what was not asked for; the job is validated and queued by the service,
its progress and results go to the message, and the chat's Stop cancels exactly it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.generation.options import RequestOptions
from comfyui_pipe.generation.request import GenerationRequest, InputImage
from comfyui_pipe.openwebui.catalog.choice import Purpose
from comfyui_pipe.openwebui.chat.context import latest_chat_image
from comfyui_pipe.openwebui.chat.defaults import stored_defaults
from comfyui_pipe.openwebui.chat.job import FinishedJob, run_job
from comfyui_pipe.openwebui.chat.progress import ChatProgress
from comfyui_pipe.openwebui.chat.reply import CANCELLED_MESSAGE
from comfyui_pipe.openwebui.host_values import Emitter, User
from comfyui_pipe.openwebui.runtime import PluginRuntime
from comfyui_pipe.workflow import Workflow


class UnknownAsker(RequestError):
    def __init__(self) -> None:
        super().__init__("Open WebUI could not tell who is asking.")


@dataclass(frozen=True)
class Asked:
    """What a chat surface was asked for."""

    prompt: str
    options: RequestOptions = field(default_factory=RequestOptions)
    workflow: str | None = None
    """The workflow named (a chat model's, the Tool's argument, a result's); when none,
    one is chosen for ``purpose``."""
    purpose: Purpose = Purpose.IMAGE
    images: Sequence[InputImage] = ()


@dataclass(frozen=True)
class ChatMessage:
    """The message a turn's job shows its progress and results in."""

    chat_id: str | None
    message_id: str | None
    metadata: Mapping[str, Any]
    """What Open WebUI told the surface about the message (for its event emitters)."""
    emitter: Emitter | None
    shown_files: Sequence[dict[str, Any]] = ()
    """Files the message shows already (an earlier tool call's, the result acted on)."""
    image_sources: Sequence[str | None] = ()
    """Where the chat's latest image is looked for, in order (message ids)."""
    text_is_the_reply: bool = False
    """The message's text is the job's reply (the Pipe's): the status line hides once
    the reply's caption says the same, and Stop writes that it was cancelled."""


@dataclass(frozen=True)
class Turned:
    workflow: Workflow
    finished: FinishedJob


class ChatTurn:
    def __init__(self, runtime: PluginRuntime) -> None:
        self._runtime = runtime
        self._host = runtime.host

    async def asker(self, user_id: str | None) -> User:
        user = await self._host.users.get(user_id) if user_id else None
        if user is None:
            raise UnknownAsker()
        return user

    async def run(self, user: User, asked: Asked, message: ChatMessage) -> Turned:
        """Start, follow and finish the job; a refused request raises a ``PipeError``
        before anything is queued."""
        workflow = await self._runtime.choice().choose(user, asked.purpose, asked.workflow)
        images = list(asked.images)
        if not images and workflow.image_inputs:
            # a follow-up ("make it bluer") works on the chat's latest image
            sources = list(message.image_sources)
            images = [await latest_chat_image(self._host, user, message.chat_id, sources)]
        request = GenerationRequest(
            owner_id=user.id,
            workflow_id=workflow.id,
            prompt=asked.prompt,
            options=asked.options,
            defaults=await stored_defaults(self._host.plugins, user.id),
            images=images,
            chat_id=message.chat_id,
            message_id=message.message_id,
        )
        progress = await self._progress(message)
        try:
            finished = await run_job(self._runtime.service, self._host.files, request, progress)
        except asyncio.CancelledError:
            closed = self._runtime.service.closed  # handed over: the next process goes on
            if progress is not None and message.text_is_the_reply and not closed:
                await asyncio.shield(progress.replace_content(CANCELLED_MESSAGE))
            raise
        return Turned(workflow, finished)

    async def _progress(self, message: ChatMessage) -> ChatProgress | None:
        """None for a call without a message (e.g. the API's chat completions)."""
        if message.emitter is None or not message.message_id:
            return None
        return await ChatProgress.for_message(
            self._host.events,
            dict(message.metadata),
            message.emitter,
            shown_files=message.shown_files,
            caption_says_done=message.text_is_the_reply,
        )
