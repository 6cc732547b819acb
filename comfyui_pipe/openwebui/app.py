"""The ASGI app ``comfyui-pipe serve`` runs: Open WebUI with the plugin mounted.

Open WebUI's own app, plus our router and the ComfyUI console's page at ``/comfyui/``,
with the frontend's catch-all mount moved back to the end (otherwise it answers our GETs
with index.html), our middleware (chat models published before anyone can use them;
settings saved through Open WebUI's valves route applied at once, see ``app_middleware``;
videos in the chat no larger than their natural size, see ``console.chat_media``), and a
lifespan that installs or refreshes our plugins (the Pipe, the Actions, the Tool, the media
Filter) before Open WebUI's startup, then, before it serves anyone, starts the plugin
runtime (our tables, the settings, the chat models) and takes the startup heap out of
garbage collection; a stop signal hands the generations over at once
(``graceful_stop``); on shutdown it closes the runtime.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.routing import Mount

from comfyui_pipe.openwebui.api.router import router
from comfyui_pipe.openwebui.app_middleware import PublishModelsFirst, ReloadOnValvesSaved
from comfyui_pipe.openwebui.console.chat_media import NaturalSizeMedia
from comfyui_pipe.openwebui.console.page import mount_console
from comfyui_pipe.openwebui.graceful_stop import HandOverOnStop, hand_over_jobs
from comfyui_pipe.openwebui.host import open_webui_app
from comfyui_pipe.openwebui.install import install_plugins
from comfyui_pipe.openwebui.runtime import MOUNTED, close_runtime, get_runtime, runtime_of

__all__ = ("app", "mount_plugin")

log = logging.getLogger(__name__)


def mount_plugin(app: FastAPI) -> None:
    """Add the plugin to Open WebUI's ``app``; a second call changes nothing."""
    if getattr(app.state, MOUNTED, False):
        return
    setattr(app.state, MOUNTED, True)
    app.include_router(router)
    mount_console(app)
    app.add_middleware(PublishModelsFirst)
    app.add_middleware(ReloadOnValvesSaved)
    app.add_middleware(NaturalSizeMedia)
    _move_frontend_mount_last(app)
    app.router.lifespan_context = _with_plugin_lifespan(app.router.lifespan_context)


def _move_frontend_mount_last(app: FastAPI) -> None:
    routes = app.router.routes
    frontend = [route for route in routes if isinstance(route, Mount) and route.path == ""]
    for mount in frontend:
        routes.remove(mount)
        routes.append(mount)


def _with_plugin_lifespan(open_webui_lifespan: Any) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        # Before Open WebUI starts: it may load our plugins while starting (its model
        # cache), and switches off a function whose stored source no longer imports
        # (a shim naming an earlier version's module).
        await install_plugins(app.state, runtime_of(app).host.plugins)
        async with open_webui_lifespan(app) as state:
            try:
                await get_runtime(app)
            except Exception:
                # Open WebUI keeps serving; the runtime is built again on first use.
                log.exception("The ComfyUI plugin could not start; retrying on first use.")
            # Open WebUI's heap after startup is millions of objects that live until exit;
            # every full collection walked them all (0.1-0.6 s pauses under load, holding
            # up every progress event). Frozen, collections look at newer objects only.
            gc.freeze()
            with HandOverOnStop(lambda: hand_over_jobs(app)) as stop:
                try:
                    yield state
                finally:
                    await stop.finished()
                    await close_runtime(app)

    return lifespan


app = open_webui_app()
mount_plugin(app)
