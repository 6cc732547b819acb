"""The Actions under a message that holds our results: Upscale, Variations, Use as
input, Re-run with changed options.

Open WebUI shows them under the messages of the models an admin gave them to
(or under every message when the admin makes them global) and calls ``action``
with the chat and message ids. Each starts a new job through the same service
(limits, model access, the user's defaults), with its progress and its results
in that same message, after the files it already shows. Only a result of the
user's own chat and job is ever acted on; anything else is a sentence in a
notification, never a stack trace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.generation.options import LoraRequest, RequestOptions, parse_message
from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.generation.request import InputImage
from comfyui_pipe.openwebui.catalog.choice import Purpose
from comfyui_pipe.openwebui.chat.context import file_id_of_image
from comfyui_pipe.openwebui.chat.reply import failure_sentence
from comfyui_pipe.openwebui.chat.turn import Asked, ChatMessage, ChatTurn
from comfyui_pipe.openwebui.host import Emitter, OpenWebUIHost, User
from comfyui_pipe.openwebui.presenter import UNEXPECTED_IN_ACTION, describe
from comfyui_pipe.openwebui.runtime import PluginRuntime, get_runtime
from comfyui_pipe.openwebui.store.input_images import image_from_file

log = logging.getLogger(__name__)

UPSCALE, VARIATIONS, USE_AS_INPUT, RERUN = "upscale", "variations", "use_as_input", "rerun"


class NoResultHere(RequestError):
    def __init__(self) -> None:
        super().__init__("This message holds no ComfyUI result of yours to work on.")


class NothingAsked(RequestError):
    def __init__(self) -> None:
        super().__init__("Nothing was changed, so nothing was started.")


@dataclass(frozen=True)
class Result:
    """The message an Action was pressed under, and the job that made its result."""

    chat_id: str
    message: dict[str, Any]
    record: JobRecord
    image_file_id: str | None

    @property
    def message_id(self) -> str:
        return str(self.message["id"])

    def shown_in(self, emitter: Emitter, session_id: str | None) -> ChatMessage:
        """The result's message, where the new job shows its progress and results after
        the files it shows already; an input image is the latest before it."""
        metadata = {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "session_id": session_id,
            "user_id": self.record.owner_id,
        }
        return ChatMessage(
            self.chat_id,
            self.message_id,
            metadata,
            emitter,
            shown_files=self.message.get("files") or [],
            image_sources=(self.message.get("parentId"),),
        )


class Action:
    actions: ClassVar[list[dict[str, str]]] = [
        {"id": UPSCALE, "name": "Upscale"},
        {"id": VARIATIONS, "name": "Variations"},
        {"id": USE_AS_INPUT, "name": "Use as input"},
        {"id": RERUN, "name": "Re-run with changed options"},
    ]

    async def action(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any] | None = None,
        __event_emitter__: Emitter | None = None,
        __event_call__: Emitter | None = None,
        __request__: Any = None,
        __id__: str | None = None,
    ) -> None:
        emit = __event_emitter__ or _ignore
        try:
            runtime = await get_runtime(__request__.app)
            turn = ChatTurn(runtime)
            user = await turn.asker((__user__ or {}).get("id"))
            result = await result_under(runtime, user, body)
            asked = await asked_for(runtime, __id__ or "", result, user, __event_call__)
            message = result.shown_in(emit, body.get("session_id"))
            finished = (await turn.run(user, asked, message)).finished
            if not finished.succeeded:
                await _notify(emit, failure_sentence(finished))
        except PipeError as error:
            await _notify(emit, describe(error))
        except Exception:
            log.exception("The ComfyUI action %s failed", __id__)
            await _notify(emit, UNEXPECTED_IN_ACTION)


async def result_under(runtime: PluginRuntime, user: User, body: dict[str, Any]) -> Result:
    """The user's own result in the message ``body`` names, or :class:`NoResultHere`."""
    host = runtime.host
    chat_id, message_id = body.get("chat_id"), body.get("id")
    messages = await host.chats.messages(chat_id, user.id) if chat_id else None
    message = (messages or {}).get(message_id or "")
    if not chat_id or message is None:
        raise NoResultHere()
    for item in reversed(message.get("files") or []):
        file = await host.files.get(str(item.get("id") or "")) if item.get("id") else None
        job_id = (file.meta.get("comfyui") or {}).get("job_id") if file else None
        if file is None or file.user_id != user.id or not job_id:
            continue
        record = await runtime.jobs.get(job_id)
        if record is not None and record.owner_id == user.id:
            return Result(chat_id, message, record, file_id_of_image(item))
    raise NoResultHere()


async def asked_for(
    runtime: PluginRuntime, action_id: str, result: Result, user: User, ask: Emitter | None
) -> Asked:
    """Upscale and Use as input work on the result image; Variations and Re-run repeat
    the result's job (its workflow, prompt and options; a new seed unless one is given)."""
    host, record = runtime.host, result.record
    if action_id == UPSCALE:
        image = await _image(host, result, user)
        return Asked("upscale", purpose=Purpose.UPSCALE, images=[image])
    if action_id == USE_AS_INPUT:
        typed = await _ask(ask, "Use as input", "What should change in this image?", "")
        parsed = parse_message(typed)
        image = await _image(host, result, user)
        return Asked(parsed.prompt, parsed.options, purpose=Purpose.EDIT, images=[image])
    if action_id not in (VARIATIONS, RERUN):
        raise RequestError(f"There is no ComfyUI action '{action_id}'.")
    prompt, options = str(record.params.get("prompt") or ""), options_of(record)
    if action_id == RERUN:
        await runtime.choice().named(user, record.workflow_id)  # before asking for options
        seed = record.params.get("seed")
        typed = await _ask(
            ask,
            "Re-run with changed options",
            "Change any option, or write a new prompt before them.",
            " ".join([as_flags(options), *([f"--seed {seed}"] if seed is not None else [])]),
        )
        parsed = parse_message(typed)
        prompt, options = parsed.prompt or prompt, replace(options, **_given(parsed.options))
    return Asked(prompt, options, workflow=record.workflow_id)


def options_of(record: JobRecord) -> RequestOptions:
    """The options that made ``record``'s result (its effective values)."""
    params = record.params
    return RequestOptions(
        width=params.get("width"),
        height=params.get("height"),
        steps=params.get("steps"),
        cfg=params.get("cfg"),
        count=params.get("count"),
        negative_prompt=params.get("negative_prompt"),
        loras=[LoraRequest(lora["name"], lora["strength"]) for lora in params.get("loras") or []],
    )


def as_flags(options: RequestOptions) -> str:
    """``options`` as the inline flags a user would type (what the Re-run box starts with)."""
    flags = []
    if options.width and options.height:
        flags.append(f"--size {options.width}x{options.height}")
    if options.steps is not None:
        flags.append(f"--steps {options.steps}")
    if options.cfg is not None:
        flags.append(f"--cfg {options.cfg:g}")
    if options.count is not None:
        flags.append(f"--n {options.count}")
    return " ".join(flags)


def _given(options: RequestOptions) -> dict[str, Any]:
    """The options a user typed (those not left as "not asked for")."""
    given = {
        name: getattr(options, name)
        for name in (
            "width",
            "height",
            "aspect",
            "steps",
            "cfg",
            "seed",
            "count",
            "negative_prompt",
        )
        if getattr(options, name) is not None
    }
    if options.loras:
        given["loras"] = options.loras
    return given


async def _image(host: OpenWebUIHost, result: Result, user: User) -> InputImage:
    if result.image_file_id is None:
        raise RequestError("This result is not an image, so it cannot be used that way.")
    return await image_from_file(host.files, result.image_file_id, user)


async def _ask(ask: Emitter | None, title: str, message: str, value: str) -> str:
    """What the user types in Open WebUI's input dialog; :class:`NothingAsked` if they
    cancel or leave it empty."""
    if ask is None:
        raise NothingAsked()
    answer = await ask(
        {
            "type": "input",
            "data": {"title": title, "message": message, "placeholder": value, "value": value},
        }
    )
    if not isinstance(answer, str) or not answer.strip():
        raise NothingAsked()
    return answer.strip()


async def _notify(emit: Emitter, sentence: str) -> None:
    await emit({"type": "notification", "data": {"type": "error", "content": sentence}})


async def _ignore(event: dict[str, Any]) -> None:
    return None
