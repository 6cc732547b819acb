"""Serving the console's files at ``/comfyui/``, in the browser's own language of caching
(revalidated on every load: an upgrade of the package shows at once) and under a content
security policy that lets the page talk to its own origin only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PATH = "/comfyui"
STATIC = Path(__file__).parent / "static"
POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self' ws: wss:; script-src 'self'; style-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)


class ConsoleFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_console(app: FastAPI) -> None:
    """``/comfyui/`` serves the console (``/comfyui`` leads there)."""
    app.router.routes.append(Route(PATH, _to_the_page, methods=["GET", "HEAD"]))
    app.router.routes.append(Mount(PATH, ConsoleFiles(directory=STATIC, html=True)))


async def _to_the_page(request: object) -> Response:
    return RedirectResponse(f"{PATH}/", status_code=308)
