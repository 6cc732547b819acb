"""Routes whose request body may be at most so many bytes: a larger one answers 413 with a
sentence before it is read, by its declared ``Content-Length``, or, when it declares none
or too little, as soon as more than the limit has arrived. The limit is a number, or
found for each request (when it follows the admin's settings)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from starlette.types import Message, Receive

from .validation import SentenceRoute

BodyLimit = Callable[[Request], Awaitable[int]]
"""The bytes a request's body may have, found for that request."""


def body_limited(limit_of: int | BodyLimit) -> type[APIRoute]:
    """A route class (answering in sentences) whose request bodies may be ``limit_of``
    bytes."""

    class BodyLimitedRoute(SentenceRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()

            async def handle_within_limit(request: Request) -> Response:
                limit = limit_of if isinstance(limit_of, int) else await limit_of(request)
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise _too_large(limit)
                return await handle(Request(request.scope, _counted(request.receive, limit)))

            return handle_within_limit

    return BodyLimitedRoute


def _counted(receive: Receive, limit: int) -> Receive:
    """``receive`` that stops with a 413 once more than ``limit`` body bytes came in."""
    received = 0

    async def receive_counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
        return message

    return receive_counted


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"The request body is larger than {limit:,} bytes ({limit / 2**20:.3g} MiB), "
        "the most this request may send.",
    )
