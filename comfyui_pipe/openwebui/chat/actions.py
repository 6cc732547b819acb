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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from open_webui.models.chats import Chats
from open_webui.models.files import Files
from open_webui.models.users import UserModel, Users

from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.generation.options import LoraRequest, RequestOptions, parse_message
from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.generation.request import GenerationRequest, InputImage
from comfyui_pipe.generation.service import GenerationService
from comfyui_pipe.openwebui.catalog.access import check_workflow_access
from comfyui_pipe.openwebui.catalog.choice import Purpose, choose_workflow
from comfyui_pipe.openwebui.chat import action_icons as icons
from comfyui_pipe.openwebui.chat.action_icons import icon_url
from comfyui_pipe.openwebui.chat.context import file_id_of_image, latest_chat_image
from comfyui_pipe.openwebui.chat.defaults import stored_defaults
from comfyui_pipe.openwebui.chat.job import run_job
from comfyui_pipe.openwebui.chat.progress import ChatProgress
from comfyui_pipe.openwebui.chat.reply import failure_sentence
from comfyui_pipe.openwebui.presenter import describe
from comfyui_pipe.openwebui.runtime import PluginRuntime, get_runtime
from comfyui_pipe.openwebui.store.input_images import image_from_file

log = logging.getLogger(__name__)

Emitter = Callable[[dict[str, Any]], Awaitable[Any]]

UPSCALE, VARIATIONS, USE_AS_INPUT, RERUN = "upscale", "variations", "use_as_input", "rerun"
UNEXPECTED_FAILURE = "The action failed because of an unexpected error."


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


class Action:
    actions: ClassVar[list[dict[str, str]]] = [
        {"id": UPSCALE, "name": "Upscale", "icon_url": icon_url(icons.UPSCALE)},
        {"id": VARIATIONS, "name": "Variations", "icon_url": icon_url(icons.VARIATIONS)},
        {"id": USE_AS_INPUT, "name": "Use as input", "icon_url": icon_url(icons.USE_AS_INPUT)},
        {
            "id": RERUN,
            "name": "Re-run with changed options",
            "icon_url": icon_url(icons.RERUN),
        },
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
            user = await Users.get_user_by_id((__user__ or {}).get("id", ""))
            if user is None:
                raise NoResultHere()
            runtime = await get_runtime(__request__.app)
            result = await result_under(runtime, user, body)
            service = runtime.service
            plan = await plan_for(__id__ or "", result, user, service, __event_call__)
            request = GenerationRequest(
                owner_id=user.id,
                workflow_id=plan.workflow_id,
                prompt=plan.prompt,
                options=plan.options,
                defaults=await stored_defaults(user.id),
                images=plan.images,
                chat_id=result.chat_id,
                message_id=result.message_id,
            )
            progress = await ChatProgress.for_message(
                {
                    "chat_id": result.chat_id,
                    "message_id": result.message_id,
                    "session_id": body.get("session_id"),
                    "user_id": user.id,
                },
                emit,
                shown_files=result.message.get("files") or [],
            )
            finished = await run_job(service, request, progress)
            if not finished.succeeded:
                await _notify(emit, failure_sentence(finished))
        except PipeError as error:
            await _notify(emit, describe(error))
        except Exception:
            log.exception("The ComfyUI action %s failed", __id__)
            await _notify(emit, UNEXPECTED_FAILURE)


async def result_under(runtime: PluginRuntime, user: UserModel, body: dict[str, Any]) -> Result:
    """The user's own result in the message ``body`` names, or :class:`NoResultHere`."""
    chat_id, message_id = body.get("chat_id"), body.get("id")
    chat = await Chats.get_chat_by_id_and_user_id(chat_id, user.id) if chat_id else None
    messages = ((chat.chat if chat else {}).get("history") or {}).get("messages") or {}
    message = messages.get(message_id)
    if chat is None or message is None:
        raise NoResultHere()
    for item in reversed(message.get("files") or []):
        file = await Files.get_file_by_id(str(item.get("id") or "")) if item.get("id") else None
        job_id = ((file.meta or {}).get("comfyui") or {}).get("job_id") if file else None
        if file is None or file.user_id != user.id or not job_id:
            continue
        record = await runtime.jobs.get(job_id)
        if record is not None and record.owner_id == user.id:
            return Result(chat.id, message, record, file_id_of_image(item))
    raise NoResultHere()


@dataclass(frozen=True)
class Plan:
    """The new job an Action asks for."""

    workflow_id: str
    prompt: str
    options: RequestOptions
    images: list[InputImage]


async def plan_for(
    action_id: str,
    result: Result,
    user: UserModel,
    service: GenerationService,
    ask: Emitter | None,
) -> Plan:
    """Upscale and Use as input work on the result image; Variations and Re-run repeat
    the result's job (its workflow, prompt and options; a new seed unless one is given)."""
    record = result.record
    if action_id == UPSCALE:
        workflow = await choose_workflow(service.workflows, service.pool, Purpose.UPSCALE, user)
        return Plan(workflow.id, "upscale", RequestOptions(), [await _image(result, user)])
    if action_id == USE_AS_INPUT:
        parsed = parse_message(
            await _ask(ask, "Use as input", "What should change in this image?", "")
        )
        workflow = await choose_workflow(service.workflows, service.pool, Purpose.EDIT, user)
        return Plan(workflow.id, parsed.prompt, parsed.options, [await _image(result, user)])
    if action_id not in (VARIATIONS, RERUN):
        raise RequestError(f"There is no ComfyUI action '{action_id}'.")
    await check_workflow_access(user, record.workflow_id)
    earlier = service.workflows.get(record.workflow_id)
    images = []
    if earlier is not None and earlier.image_inputs:
        # the same kind of input as the first time: the latest image before this message
        images = [await latest_chat_image(user, result.chat_id, [result.message.get("parentId")])]
    prompt, options = str(record.params.get("prompt") or ""), options_of(record)
    if action_id == RERUN:
        seed = record.params.get("seed")
        typed = await _ask(
            ask,
            "Re-run with changed options",
            "Change any option, or write a new prompt before them.",
            " ".join([as_flags(options), *([f"--seed {seed}"] if seed is not None else [])]),
        )
        parsed = parse_message(typed)
        prompt, options = parsed.prompt or prompt, replace(options, **_given(parsed.options))
    return Plan(record.workflow_id, prompt, options, images)


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


async def _image(result: Result, user: UserModel) -> InputImage:
    if result.image_file_id is None:
        raise RequestError("This result is not an image, so it cannot be used that way.")
    return await image_from_file(result.image_file_id, user)


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
