"""What every route module shares: the prefix, who is calling, the plugin runtime and
how errors are answered."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.routing import APIRoute
from open_webui.models.users import UserModel
from open_webui.utils.auth import get_verified_user

from comfyui_pipe.errors import UserError
from comfyui_pipe.generation.errors import for_user, http_status
from comfyui_pipe.openwebui.runtime import PluginRuntime, get_runtime
from comfyui_pipe.openwebui.schemas import ErrorOut

from .validation import SentenceRoute

PREFIX = "/api/v1/comfyui"

VerifiedUser = Annotated[UserModel, Depends(get_verified_user)]


def require_admin(user: VerifiedUser) -> UserModel:
    """Like Open WebUI's ``get_admin_user``, but a signed-in non-admin gets 403, not 401."""
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only administrators may do this.")
    return user


async def runtime_of(request: Request) -> PluginRuntime:
    return await get_runtime(request.app)


AdminUser = Annotated[UserModel, Depends(require_admin)]
Runtime = Annotated[PluginRuntime, Depends(runtime_of)]


AUTH_ERRORS = (401, 403)
"""What Open WebUI's sign-in check answers to every route: no or a bad token (401), an
API key where keys are not allowed (403)."""


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that may answer ``codes``, and the sign-in check's,
    with ``{"detail": ...}``."""
    return {code: {"model": ErrorOut} for code in sorted({*AUTH_ERRORS, *codes})}


def sub_router(route_class: type[APIRoute] = SentenceRoute) -> APIRouter:
    """A router for one concern; its routes answer unreadable requests in sentences."""
    return APIRouter(route_class=route_class)


def http_error(error: UserError) -> HTTPException:
    error = for_user(error)  # no backend URL in what the browser sees
    return HTTPException(http_status(error), str(error))
