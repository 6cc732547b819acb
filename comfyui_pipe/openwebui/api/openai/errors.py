"""OpenAI's error shape, ``{"error": {"message", "type", "param", "code"}}``, for every
answer of the images API that is not a success — our own refusals, Open WebUI's sign-in
check, a body that cannot be read — with the sentence the rest of the API gives.

The status of a refusal is the API's (``common.status_of``); a job that ran and failed
answers with the status of its failure (``failure_status``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.failures import Failure, FailureKind
from comfyui_pipe.openwebui.api.body_limit import BodyLimit, body_limited
from comfyui_pipe.openwebui.api.common import AUTH_ERRORS, status_of
from comfyui_pipe.openwebui.api.validation import validation_sentence
from comfyui_pipe.openwebui.presenter import describe, describe_failure

_TYPES: Mapping[int, str] = {
    status.HTTP_401_UNAUTHORIZED: "authentication_error",
    status.HTTP_403_FORBIDDEN: "permission_error",
    status.HTTP_404_NOT_FOUND: "invalid_request_error",
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limit_error",
}
_FAILURE_STATUSES: Mapping[FailureKind, int] = {
    FailureKind.REJECTED: status.HTTP_422_UNPROCESSABLE_CONTENT,
    FailureKind.CANCELLED: status.HTTP_409_CONFLICT,
    FailureKind.SHUTDOWN: status.HTTP_503_SERVICE_UNAVAILABLE,
    FailureKind.UNREACHABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    FailureKind.LOST: status.HTTP_503_SERVICE_UNAVAILABLE,
    FailureKind.SERVER_GONE: status.HTTP_503_SERVICE_UNAVAILABLE,
    FailureKind.TIMED_OUT: status.HTTP_504_GATEWAY_TIMEOUT,
}
FAILURE_CODES = tuple(sorted({*_FAILURE_STATUSES.values(), status.HTTP_502_BAD_GATEWAY}))
"""The statuses a job that ran and failed may answer with."""


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, as a sentence.")
    type: str = Field(description="OpenAI's kind of error, e.g. invalid_request_error.")
    param: str | None = Field(None, description="The request field at fault, if one is.")
    code: str | None = Field(None, description="What went wrong, as an identifier.")


class OpenAIErrorOut(BaseModel):
    error: ErrorDetail


class ImagesAPIError(Exception):
    """An answer of the images API that is not a success."""

    def __init__(
        self, status_code: int, message: str, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.code = code
        self.param = param

    @classmethod
    def of(cls, error: PipeError) -> ImagesAPIError:
        """A refusal (or ComfyUI's answer) with the API's status and our sentence."""
        return cls(status_of(error), describe(error), code=_snake(type(error).__name__))

    @classmethod
    def of_failure(cls, failure: Failure) -> ImagesAPIError:
        """A job that ran and did not complete."""
        code = _FAILURE_STATUSES.get(failure.kind, status.HTTP_502_BAD_GATEWAY)
        return cls(code, describe_failure(failure), code=failure.kind.value)

    def body(self) -> dict[str, Any]:
        kind = _TYPES.get(self.status_code) or (
            "server_error" if self.status_code >= 500 else "invalid_request_error"
        )
        detail = ErrorDetail(message=self.message, type=kind, param=self.param, code=self.code)
        return {"error": detail.model_dump()}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status_code)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an images route that may answer ``codes`` (and the sign-in
    check's), in OpenAI's error shape."""
    return {code: {"model": OpenAIErrorOut} for code in sorted({*AUTH_ERRORS, *codes})}


def openai_route(limit_of: int | BodyLimit) -> type[APIRoute]:
    """A route class whose request bodies may be ``limit_of`` bytes and whose every answer
    that is not a success is in OpenAI's shape: ours, Open WebUI's sign-in check's
    (``HTTPException``), the body limit's and FastAPI's for a body it cannot read."""

    class OpenAIRoute(body_limited(limit_of, base=APIRoute)):  # type: ignore[misc]
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()

            async def handle_in_openai_shape(request: Request) -> Response:
                try:
                    answer: Response = await handle(request)
                except ImagesAPIError as error:
                    return error.response()
                except RequestValidationError as error:
                    return _unreadable(error.errors()).response()
                except HTTPException as error:
                    return ImagesAPIError(error.status_code, _sentence(error)).response()
                return answer

            return handle_in_openai_shape

    return OpenAIRoute


def _unreadable(errors: Any) -> ImagesAPIError:
    fields = [str(error["loc"][-1]) for error in errors if len(error.get("loc", ())) > 1]
    return ImagesAPIError(
        status.HTTP_400_BAD_REQUEST,
        validation_sentence(errors),
        code="invalid_value",
        param=fields[0] if fields else None,
    )


def _sentence(error: HTTPException) -> str:
    if error.status_code == status.HTTP_400_BAD_REQUEST and error.__cause__ is not None:
        return "The request body could not be read."
    detail = str(error.detail)
    return detail if detail.endswith(".") else detail + "."


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
