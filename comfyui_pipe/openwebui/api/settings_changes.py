"""A change of the settings made on an admin's behalf by a route other than PUT /settings
(adding a server, draining one, enabling a workflow): stored and applied the same way,
refused with the settings' own sentence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, status
from pydantic import ValidationError

from comfyui_pipe.config import PipeConfig
from comfyui_pipe.openwebui.config_store import FunctionMissing
from comfyui_pipe.openwebui.runtime import PluginRuntime


async def save_settings(runtime: PluginRuntime, changes: Mapping[str, Any]) -> PipeConfig:
    """``changes`` stored and applied; 409 with the reason when the settings refuse them
    (nothing is stored then)."""
    try:
        return await runtime.save(changes)
    except ValidationError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, refusal(error)) from None
    except FunctionMissing as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None


def refusal(error: ValidationError) -> str:
    """The settings' reasons, as sentences (without the names of the fields)."""
    reasons = [str(detail["msg"]).removeprefix("Value error, ") for detail in error.errors()]
    return " ".join(reason if reason.endswith(".") else f"{reason}." for reason in reasons)
