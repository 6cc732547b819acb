"""Open WebUI's own image feature on our workflows, in one call of an admin's.

``PUT /image-engine`` points Open WebUI's image engine "OpenAI" (Admin → Settings →
Images), for making and for editing images, at our images API (``/api/v1/comfyui/v1``)
with the engine key (``openai.caller``). From then on the Image button in the message
box, the built-in ``generate_image`` / ``edit_image`` tools and Open WebUI's
``/api/v1/images`` routes run through our queue, as jobs of the user who asked. ``GET``
says whether it points here, ``DELETE`` switches Open WebUI's image feature off again.

Open WebUI must say which user it calls for (``ENABLE_FORWARD_USER_INFO_HEADERS=true``):
without it the call is refused with a sentence saying so.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status
from pydantic import BaseModel, Field

from comfyui_pipe.errors import PipeError
from comfyui_pipe.openwebui.catalog.choice import NoWorkflowFor, Purpose
from comfyui_pipe.openwebui.host import HostImages
from comfyui_pipe.openwebui.host_values import User
from comfyui_pipe.openwebui.runtime import PluginRuntime

from .common import PREFIX, AdminUser, Runtime, error_responses, http_error, sub_router
from .openai.caller import NO_FORWARDED_USER, engine_key
from .openai.images import MakesNoImages, makes_images
from .schemas import RequestBody

ENGINE = "openai"
MAKING = "image_generation"
EDITING = "images.edit"
KEYS = tuple(
    f"{part}.{key}"
    for part in (MAKING, EDITING)
    for key in ("enable", "engine", "model", "openai.api_base_url", "openai.api_key")
)

router = sub_router()


class ImageEngineIn(RequestBody):
    base_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Where Open WebUI's server reaches this API; left out, the address "
        "this request came in on, followed by /api/v1/comfyui/v1.",
    )
    generation_workflow: str | None = Field(
        None, description="The workflow that makes images; left out, the one chosen for it."
    )
    edit_workflow: str | None = Field(
        None, description="The workflow that edits images; left out, the one chosen for it."
    )


class ImageEngineOut(BaseModel):
    connected: bool = Field(description="Whether Open WebUI's image feature runs here.")
    base_url: str | None
    generation_workflow: str | None
    edit_workflow: str | None = Field(description="None: Open WebUI does not edit here.")
    forwards_users: bool = Field(
        description="Whether Open WebUI says which user it calls for (required)."
    )


@router.get(
    "/image-engine",
    response_model=ImageEngineOut,
    summary="Whether Open WebUI's image feature runs here (admin)",
    description="Whether Open WebUI's image engine (Admin → Settings → Images) points at "
    "the images API with this deployment's key, for which workflows, and whether Open "
    "WebUI says which user it calls for.",
    responses=error_responses(),
)
async def engine_status(_admin: AdminUser, runtime: Runtime) -> ImageEngineOut:
    return await _status(runtime.host.images)


@router.put(
    "/image-engine",
    response_model=ImageEngineOut,
    summary="Run Open WebUI's image feature here (admin)",
    description="Points Open WebUI's image engine 'OpenAI', for making and editing images, "
    "at the images API with a key only this deployment makes; its Image button and its "
    "generate_image / edit_image tools then run the workflows through the queue, as jobs "
    "of the user who asked. 409 when Open WebUI does not say which user it calls for.",
    responses=error_responses(400, 404, 409, 422),
)
async def connect(
    body: ImageEngineIn, request: Request, admin: AdminUser, runtime: Runtime
) -> ImageEngineOut:
    images = runtime.host.images
    if not images.forwarding.enabled:
        raise HTTPException(status.HTTP_409_CONFLICT, NO_FORWARDED_USER)
    try:
        making = await _chosen(runtime, admin, Purpose.IMAGE, body.generation_workflow)
        editing = await _edit_workflow(runtime, admin, body.edit_workflow)
    except PipeError as error:
        raise http_error(error) from None
    base_url = body.base_url or _own_address(request)
    key = engine_key(images)
    values: dict[str, Any] = {f"{MAKING}.size": "", f"{EDITING}.size": ""}
    for part, workflow in ((MAKING, making), (EDITING, editing)):
        values |= {
            f"{part}.enable": workflow is not None,
            f"{part}.engine": ENGINE,
            f"{part}.model": workflow or "",
            f"{part}.openai.api_base_url": base_url.rstrip("/"),
            f"{part}.openai.api_key": key,
            f"{part}.openai.api_version": "",
        }
    await images.save(values)
    return await _status(images)


@router.delete(
    "/image-engine",
    response_model=ImageEngineOut,
    summary="Switch Open WebUI's image feature off, if it runs here (admin)",
    description="Turns off Open WebUI's making and editing of images where they point "
    "here; an engine pointed elsewhere is left as it is.",
    responses=error_responses(),
)
async def disconnect(_admin: AdminUser, runtime: Runtime) -> ImageEngineOut:
    images = runtime.host.images
    settings = await images.settings(KEYS)
    ours = [part for part in (MAKING, EDITING) if _runs_here(settings, part, images)]
    if ours:
        await images.save({f"{part}.enable": False for part in ours})
    return await _status(images)


async def _chosen(runtime: PluginRuntime, admin: User, purpose: Purpose, named: str | None) -> str:
    workflow = await runtime.choice().choose(admin, purpose, named)
    if not makes_images(workflow):
        raise MakesNoImages(workflow)
    return workflow.id


async def _edit_workflow(runtime: PluginRuntime, admin: User, named: str | None) -> str | None:
    """None when no workflow edits images (and none was named)."""
    try:
        return await _chosen(runtime, admin, Purpose.EDIT, named)
    except NoWorkflowFor:
        return None


def _own_address(request: Request) -> str:
    """This server as this request reached it (Open WebUI calls it from the same host)."""
    server = request.scope.get("server")
    if not server:
        return str(request.base_url).rstrip("/") + PREFIX + "/v1"
    host, port = server
    host = f"[{host}]" if ":" in str(host) else host
    return f"{request.url.scheme}://{host}:{port}{PREFIX}/v1"


def _runs_here(settings: dict[str, Any], part: str, images: HostImages) -> bool:
    return (
        bool(settings.get(f"{part}.enable"))
        and settings.get(f"{part}.engine") == ENGINE
        and settings.get(f"{part}.openai.api_key") == engine_key(images)
    )


async def _status(images: HostImages) -> ImageEngineOut:
    settings = await images.settings(KEYS)
    making, editing = (_runs_here(settings, part, images) for part in (MAKING, EDITING))
    return ImageEngineOut(
        connected=making,
        base_url=settings.get(f"{MAKING}.openai.api_base_url") if making else None,
        generation_workflow=settings.get(f"{MAKING}.model") if making else None,
        edit_workflow=settings.get(f"{EDITING}.model") if editing else None,
        forwards_users=images.forwarding.enabled,
    )
