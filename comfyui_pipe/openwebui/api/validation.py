"""A request our routes cannot read answers 422 ``{"detail": "<sentence>"}``, like every
other error of theirs (400 for a body that is not even JSON). Scoped to our routes (their
route class): Open WebUI's own keep FastAPI's list and wording."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

_WHERE = ("body", "query", "path", "header", "cookie")
_NOT_JSON = "The request body is not valid JSON."


class SentenceRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_sentences(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as error:
                return JSONResponse(
                    {"detail": validation_sentence(error.errors())},
                    status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                )
            except HTTPException as error:
                unreadable = _unreadable_body(error)
                if unreadable is None:
                    raise
                return JSONResponse({"detail": unreadable}, status_code=status.HTTP_400_BAD_REQUEST)

        return handle_in_sentences


def _unreadable_body(error: HTTPException) -> str | None:
    """The sentence for FastAPI's answer to a body it could not decode (it says only
    "There was an error parsing the body"), else None."""
    cause = error.__cause__
    if error.status_code != status.HTTP_400_BAD_REQUEST or cause is None:
        return None
    if isinstance(cause, RecursionError):
        return "The request body nests lists and objects too deeply to be read."
    if isinstance(cause, ValueError):
        return _NOT_JSON
    return None


def validation_sentence(errors: Sequence[Any]) -> str:
    """One sentence per problem, naming the field; never the value sent (it may be
    anything, text that cannot even be encoded included)."""
    sentences = [_sentence(error) for error in errors] or ["The request is not valid."]
    text = " ".join(sentences)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _sentence(error: Any) -> str:
    if error.get("type") == "json_invalid":
        return _NOT_JSON
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    field = ".".join(str(part) for part in error.get("loc", ()) if part not in _WHERE)
    sentence = f"{field}: {message}" if field else message
    return sentence if sentence.endswith(".") else sentence + "."
