"""Media in the chat no larger than their natural size.

Open WebUI 0.12 draws a video of a message as ``<video class="w-full">``: a 64×64 clip
is stretched to the chat's full width, and the message cannot say otherwise. Its page
loads ``/static/custom.css`` (its own place for custom styles) on every view; this
middleware adds our rule after whatever that file holds: a video from Open WebUI's
files takes its own width, up to the chat's. Images already show at their own size.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CUSTOM_CSS = "/static/custom.css"
MEDIA_RULES = b"""
/* comfyui-pipe: media no larger than their natural size */
video[src*="/api/v1/files/"] { width: auto !important; max-width: 100%; height: auto; }
"""
_CONDITIONAL = (b"if-none-match", b"if-modified-since")


class NaturalSizeMedia:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CUSTOM_CSS or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        # always the whole file: its validators do not cover what is added here
        headers = [(name, value) for name, value in scope["headers"] if name not in _CONDITIONAL]
        start: Message | None = None
        parts: list[bytes] = []

        async def with_rules(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            parts.append(message.get("body", b""))
            if message.get("more_body"):
                return  # the file is small: sent whole, with ours
            assert start is not None
            body = b"".join(parts) + (MEDIA_RULES if start["status"] == 200 else b"")
            await send(_with_length(start, len(body)))
            await send({"type": "http.response.body", "body": body})

        await self.app({**scope, "headers": headers}, receive, with_rules)


def _with_length(start: Message, length: int) -> Message:
    headers = MutableHeaders(raw=list(start["headers"]))
    headers["content-length"] = str(length)
    headers["cache-control"] = "no-cache"
    for validator in ("etag", "last-modified"):
        if validator in headers:
            del headers[validator]
    return {**start, "headers": headers.raw}
