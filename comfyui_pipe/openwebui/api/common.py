"""What every route module shares: the prefix, who is calling, the plugin runtime and
how errors are answered."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.routing import APIRoute

from comfyui_pipe.comfy import (
    ComfyError,
    ComfyUnreachable,
    PromptRejected,
    UploadTooLarge,
)
from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.errors import (
    ImageTooLarge,
    JobHandedOver,
    JobNotFound,
    NotAnImage,
    RequestError,
    TooManyJobs,
    UnknownWorkflow,
)
from comfyui_pipe.openwebui.api.schemas import ErrorOut
from comfyui_pipe.openwebui.catalog.access import WorkflowNotAllowed
from comfyui_pipe.openwebui.catalog.availability import WorkflowUnavailable
from comfyui_pipe.openwebui.host import User, verified_user
from comfyui_pipe.openwebui.presenter import describe
from comfyui_pipe.openwebui.runtime import PluginRuntime, get_runtime
from comfyui_pipe.openwebui.store.input_images import FileNotFound

from .validation import SentenceRoute

PREFIX = "/api/v1/comfyui"

VerifiedUser = Annotated[User, Depends(verified_user)]


def require_admin(user: VerifiedUser) -> User:
    """Like Open WebUI's ``get_admin_user``, but a signed-in non-admin gets 403, not 401."""
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only administrators may do this.")
    return user


async def runtime_of(request: Request) -> PluginRuntime:
    return await get_runtime(request.app)


AdminUser = Annotated[User, Depends(require_admin)]
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


HTTP_STATUSES: tuple[tuple[type[PipeError], int], ...] = (
    (TooManyJobs, status.HTTP_429_TOO_MANY_REQUESTS),
    (NotAnImage, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    (ImageTooLarge, status.HTTP_413_CONTENT_TOO_LARGE),
    (UploadTooLarge, status.HTTP_413_CONTENT_TOO_LARGE),
    (UnknownWorkflow, status.HTTP_404_NOT_FOUND),
    (JobNotFound, status.HTTP_404_NOT_FOUND),
    (FileNotFound, status.HTTP_404_NOT_FOUND),
    (WorkflowNotAllowed, status.HTTP_403_FORBIDDEN),
    (WorkflowUnavailable, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (PromptRejected, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (RequestError, status.HTTP_400_BAD_REQUEST),
    (ComfyUnreachable, status.HTTP_503_SERVICE_UNAVAILABLE),
    (JobHandedOver, status.HTTP_503_SERVICE_UNAVAILABLE),
    (ComfyError, status.HTTP_502_BAD_GATEWAY),
)
"""The status of each error a route may meet, the first class that matches."""


def status_of(error: PipeError) -> int:
    return next(
        (code for kind, code in HTTP_STATUSES if isinstance(error, kind)),
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def http_error(error: PipeError) -> HTTPException:
    return HTTPException(status_of(error), describe(error))
