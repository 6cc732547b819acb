"""A request our routes cannot read answers 422 ``{"detail": "<sentence>"}``, like every
other error of theirs. Scoped to our routes (their route class): Open WebUI's own keep
FastAPI's list."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

_WHERE = ("body", "query", "path", "header", "cookie")


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

        return handle_in_sentences


def validation_sentence(errors: Sequence[Any]) -> str:
    """One sentence per problem, naming the field; never the value sent (it may be
    anything, text that cannot even be encoded included)."""
    sentences = [_sentence(error) for error in errors] or ["The request is not valid."]
    text = " ".join(sentences)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _sentence(error: Any) -> str:
    if error.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    field = ".".join(str(part) for part in error.get("loc", ()) if part not in _WHERE)
    sentence = f"{field}: {message}" if field else message
    return sentence if sentence.endswith(".") else sentence + "."
