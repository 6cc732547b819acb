"""ComfyUI's own web frontend, served by the test double, for driving it in a browser.

The frontend is the ``comfyui-frontend-package`` wheel (PyPI); its static files are
served next to the double's routes, with ``/object_info`` answered from a recording of
a real server. The few routes the frontend needs that the double lacks (user settings,
user data, translations) are answered with the empty replies of a fresh ComfyUI.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from comfyui_double import ComfyDouble  # noqa: E402
from comfyui_double.routes import Routes  # noqa: E402

# Settings a returning user would have: no first-run tutorial, no dialogs over the canvas.
SETTINGS = {
    "Comfy.TutorialCompleted": True,
    "Comfy.Workflow.ShowMissingNodesWarning": False,
    "Comfy.Workflow.ShowMissingModelsWarning": False,
}


class RecordedSchemaDouble(ComfyDouble):
    """The double, answering ``/object_info`` with a real server's recording."""

    def __init__(self, object_info: dict[str, Any]) -> None:
        super().__init__()
        self._recorded_object_info = object_info

    def object_info(self) -> dict[str, Any]:
        return self._recorded_object_info


def unpack_frontend(wheel: Path, into: Path) -> Path:
    """The wheel's ``static`` folder, unpacked under ``into``."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(into)
    return next(into.glob("*/static"))


def _frontend_routes(static: Path) -> list[web.RouteDef]:
    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(static / "index.html")

    async def users(request: web.Request) -> web.Response:
        return web.json_response({"storage": "server", "migrated": True})

    async def settings(request: web.Request) -> web.Response:
        return web.json_response(SETTINGS)

    async def accepted(request: web.Request) -> web.Response:
        return web.json_response({})

    async def empty_list(request: web.Request) -> web.Response:
        return web.json_response([])

    async def empty_object(request: web.Request) -> web.Response:
        return web.json_response({})

    async def not_found(request: web.Request) -> web.Response:
        return web.json_response({"error": "not found"}, status=404)

    return [
        web.get("/", index),
        web.get("/api/users", users),
        web.get("/api/settings", settings),
        web.post("/api/settings", accepted),
        web.post("/api/settings/{setting_id}", accepted),
        web.get("/api/userdata", empty_list),
        web.get("/api/v2/userdata", empty_list),
        web.get("/api/userdata/{file}", not_found),
        web.post("/api/userdata/{file}", accepted),
        web.get("/api/i18n", empty_object),
        web.get("/api/workflow_templates", empty_object),
        web.get("/templates/index.json", empty_list),
        web.get("/api/experiment/models", empty_list),
        web.get("/api/experiment/models/{folder}", empty_list),
        web.get("/internal/logs/raw", empty_object),
        web.static("/", static),
    ]


@asynccontextmanager
async def serve_frontend(static: Path, object_info: dict[str, Any]) -> AsyncIterator[str]:
    """Serve the frontend with the double's routes on 127.0.0.1; yields its URL."""
    async with RecordedSchemaDouble(object_info) as double:
        app = web.Application(client_max_size=100 * 2**20)
        Routes(double).register(app)
        app.add_routes(_frontend_routes(static))
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()


def load_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))
