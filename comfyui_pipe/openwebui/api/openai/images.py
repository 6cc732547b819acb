"""OpenAI's images API over the workflows, at ``/api/v1/comfyui/v1``: what the ``openai``
SDKs, LibreChat, n8n, LangChain and Open WebUI's own image feature speak.

- ``GET /models``: the workflows the caller may use that make images (``catalog.choice``,
  the rule of the chat and the rest of the API);
- ``POST /images/generations`` (JSON) and ``POST /images/edits`` (a form: ``image`` or
  ``image[]``, ``mask``): one job each, as ``POST /generate`` starts it — the same
  limits, fair queue, records (``GET /jobs``) and files — answered once it has ended,
  or streamed (``stream``: previews, then the images).

The job's id is in the ``X-ComfyUI-Job-Id`` header of every answer that started one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.generation.failures import CANCELLED
from comfyui_pipe.generation.limits import check_lists
from comfyui_pipe.generation.request import GenerationRequest, InputImage
from comfyui_pipe.openwebui.api.common import Runtime
from comfyui_pipe.openwebui.api.events import JobEvents
from comfyui_pipe.openwebui.api.jobs import largest_body
from comfyui_pipe.openwebui.catalog.choice import Purpose
from comfyui_pipe.openwebui.chat.job import run_job
from comfyui_pipe.openwebui.host_values import User
from comfyui_pipe.openwebui.runtime import PluginRuntime
from comfyui_pipe.workflow import Workflow

from .answers import images_answer, images_of
from .asks import ImageAsk
from .caller import Caller
from .edits import inpaint_mask, read_edit_form
from .errors import FAILURE_CODES, ImagesAPIError, error_responses, openai_route
from .partial import NOT_STORED, PartialImages, streamed_answer

JOB_HEADER = "X-ComfyUI-Job-Id"
GENERATION, EDIT = "image_generation", "image_edit"
ANSWER_CODES = (400, 404, 409, 413, 415, 422, 429, *FAILURE_CODES)

router = APIRouter(prefix="/v1", route_class=openai_route(largest_body))


class WorkflowModel(BaseModel):
    id: str = Field(description="The workflow id, to send as `model`.")
    object: str = "model"
    created: int = 0
    owned_by: str = "comfyui"
    name: str = Field(description="The workflow's title.")


class ModelList(BaseModel):
    object: str = "list"
    data: list[WorkflowModel]


class ImageOut(BaseModel):
    url: str | None = Field(None, description="The stored file (response_format url).")
    b64_json: str | None = Field(None, description="The image (response_format b64_json).")


class ImagesOut(BaseModel):
    created: int
    data: list[ImageOut]
    output_format: str | None = None


class MakesNoImages(RequestError):
    def __init__(self, workflow: Workflow) -> None:
        self.workflow_id = workflow.id
        super().__init__(
            f"Workflow '{workflow.id}' makes no images; GET /models lists those that do."
        )


def makes_images(workflow: Workflow) -> bool:
    return "image" in workflow.output_kinds


_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": ImagesOut, "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    **error_responses(*ANSWER_CODES),
}


@router.get(
    "/models",
    response_model=ModelList,
    summary="Workflows as OpenAI models",
    description="The workflows you may use that make images; send one's id as `model`.",
    responses=error_responses(),
)
async def models(user: Caller, runtime: Runtime) -> ModelList:
    usable = await runtime.choice().usable(user)
    data = [WorkflowModel(id=w.id, name=w.title) for w in usable if makes_images(w)]
    return ModelList(data=data)


@router.post(
    "/images/generations",
    summary="Generate images (OpenAI's images API)",
    description="One job on the workflow named by `model`; answers with its images once "
    "it has ended, or streams (`stream`): up to `partial_images` live previews as "
    "`image_generation.partial_image` events, then `image_generation.completed` per image.",
    responses=_ANSWERS,
)
async def generations(ask: ImageAsk, request: Request, user: Caller, runtime: Runtime) -> Response:
    try:
        workflow = await _workflow(runtime, user, Purpose.IMAGE, ask.model)
        return await _answer(request, runtime, user, ask, workflow, [], GENERATION)
    except PipeError as error:
        raise ImagesAPIError.of(error) from None


@router.post(
    "/images/edits",
    summary="Edit images (OpenAI's images API)",
    description="A form: `image` (or `image[]` for several) and OpenAI's fields. With a "
    "`mask` (transparent where to repaint) the job goes to an inpaint workflow, else to an "
    "edit workflow, unless `model` names one. Answers as /images/generations does "
    "(`image_edit.*` events when streamed).",
    responses=_ANSWERS,
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {}}}}},
)
async def edits(request: Request, user: Caller, runtime: Runtime) -> Response:
    limits = runtime.service.policy.limits
    try:
        ask, images, mask = await read_edit_form(request, limits)
        purpose = Purpose.EDIT if mask is None else Purpose.INPAINT
        workflow = await _workflow(runtime, user, purpose, ask.model)
        if mask is not None:
            images = [*images[:1], inpaint_mask(mask, limits)]
        check_lists(workflow, 0, len(images))
        return await _answer(request, runtime, user, ask, workflow, images, EDIT)
    except PipeError as error:
        raise ImagesAPIError.of(error) from None


async def _workflow(
    runtime: PluginRuntime, user: User, purpose: Purpose, named: str | None
) -> Workflow:
    workflow = await runtime.choice().choose(user, purpose, named)
    if not makes_images(workflow):
        raise MakesNoImages(workflow)
    return workflow


async def _answer(
    request: Request,
    runtime: PluginRuntime,
    user: User,
    ask: ImageAsk,
    workflow: Workflow,
    images: list[InputImage],
    kind: str,
) -> Response:
    generation = GenerationRequest(
        owner_id=user.id,
        workflow_id=workflow.id,
        prompt=ask.prompt,
        options=ask.options(),
        images=images,
    )
    events = JobEvents(runtime.host.events, user.id)
    files = runtime.host.files
    if ask.stream:
        sink = PartialImages(ask.partial_images, also=events)
        record = await runtime.service.start(generation, sink)
        stream = streamed_answer(runtime.service, files, record, sink, kind)
        headers = {JOB_HEADER: record.id, "Cache-Control": "no-cache"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
    finished = await run_job(runtime.service, files, generation, events)
    record = finished.record
    if not finished.succeeded:
        raise ImagesAPIError.of_failure(record.failure or CANCELLED)
    stored = images_of(finished.files)
    if not stored:
        raise ImagesAPIError(status.HTTP_502_BAD_GATEWAY, NOT_STORED, "no_image")
    base_url = str(request.base_url).rstrip("/")
    answer = await images_answer(files, stored, ask.response_format, base_url)
    return JSONResponse(answer, headers={JOB_HEADER: record.id})
