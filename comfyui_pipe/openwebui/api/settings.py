"""The plugin's settings (the Pipe's valves), read and changed by admins."""

from __future__ import annotations

from fastapi import HTTPException, status
from pydantic import ValidationError

from comfyui_pipe.config import PipeConfig
from comfyui_pipe.openwebui.api.schemas import SettingsUpdate
from comfyui_pipe.openwebui.config_store import FunctionMissing

from .common import AdminUser, Runtime, error_responses, sub_router
from .validation import validation_sentence

router = sub_router()


@router.get(
    "/settings",
    response_model=PipeConfig,
    summary="Read the settings (admin)",
    description="The settings in use: the same values as Workspace → Functions → ComfyUI, "
    "secrets included.",
    responses=error_responses(),
)
async def read_settings(
    _admin: AdminUser,
    runtime: Runtime,
) -> PipeConfig:
    return runtime.config


@router.put(
    "/settings",
    response_model=PipeConfig,
    summary="Change the settings (admin)",
    description="Any subset of the settings; the others keep their values. The result is "
    "checked as a whole before anything is stored (422 with a sentence otherwise), then "
    "saved where the admin panel saves it and applied at once.",
    responses=error_responses(400, 409, 422),  # 400: a body that is not UTF-8 JSON
)
async def update_settings(
    body: SettingsUpdate,
    _admin: AdminUser,
    runtime: Runtime,
) -> PipeConfig:
    try:
        return await runtime.save(body.model_dump(exclude_unset=True))
    except ValidationError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, validation_sentence(error.errors())
        ) from None
    except FunctionMissing as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
