"""What our ASGI app does around Open WebUI's own handling of a request.

- ``PublishModelsFirst``: while the chat models wait for the first admin (see
  ``model_access``), each request first publishes them if an admin exists now. Every
  user is created after the first admin, and uses a model in a request of their own,
  so the models are there before anyone can use them.
- ``ReloadOnValvesSaved``: when Open WebUI's own valves route (the admin form) has
  saved our function's valves, the runtime applies them before the answer goes out, so
  the admin's next request already sees them. Other processes notice the change
  through the config watch (``config_store``).
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from comfyui_pipe.openwebui.runtime import STATE_NAME, PluginRuntime

log = logging.getLogger(__name__)

VALVES_UPDATE = f"/api/v1/functions/id/{FUNCTION_ID}/valves/update"
"""Open WebUI's route that saves our function's valves."""


def _runtime(scope: Scope) -> PluginRuntime | None:
    runtime = getattr(scope["app"].state, STATE_NAME, None)
    return runtime if isinstance(runtime, PluginRuntime) and runtime.started else None


class PublishModelsFirst:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = _runtime(scope) if scope["type"] in ("http", "websocket") else None
        if runtime is not None and runtime.models.waiting:
            try:
                await runtime.models.publish_waiting()
            except Exception:
                log.exception("Publishing the ComfyUI models failed")
        await self.app(scope, receive, send)


class ReloadOnValvesSaved:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        saving = (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == VALVES_UPDATE
        )
        if not saving:
            await self.app(scope, receive, send)
            return

        async def reload_then_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                runtime = _runtime(scope)
                if runtime is not None:
                    try:
                        await runtime.reload()
                    except Exception:
                        log.exception("Applying the saved ComfyUI settings failed")
            await send(message)

        await self.app(scope, receive, reload_then_send)
