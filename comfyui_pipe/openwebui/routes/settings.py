"""The Pipe's valves, read and changed by admins."""

from __future__ import annotations

from fastapi import HTTPException, status
from pydantic import ValidationError

from comfyui_pipe.openwebui.schemas import SettingsUpdate
from comfyui_pipe.openwebui.valves import Valves

from .common import AdminUser, Runtime, error_responses, sub_router
from .validation import validation_sentence

router = sub_router()


@router.get(
    "/settings",
    response_model=Valves,
    summary="Read the settings (admin)",
    description="The Pipe's valves: the same values as Workspace → Functions → ComfyUI, "
    "secrets included.",
    responses=error_responses(),
)
async def read_settings(
    _admin: AdminUser,
    runtime: Runtime,
) -> Valves:
    return await runtime.valves()


@router.put(
    "/settings",
    response_model=Valves,
    summary="Change the settings (admin)",
    description="Any subset of the valves; the others keep their values. Saved where the "
    "admin panel saves them, so the Pipe sees the change at once.",
    responses=error_responses(400, 422),  # 400: a body that is not UTF-8 JSON
)
async def update_settings(
    body: SettingsUpdate,
    _admin: AdminUser,
    runtime: Runtime,
) -> Valves:
    current = await runtime.valves()
    try:
        valves = Valves.model_validate(
            {**current.model_dump(), **body.model_dump(exclude_unset=True)}
        )
    except ValidationError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, validation_sentence(error.errors())
        ) from None
    return await runtime.update_valves(valves.model_dump())
