"""HTTP routes of the double, each also answering under the /api prefix."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .faults import ForgedOutput
from .jobs import JobsApi
from .versions import system_stats

if TYPE_CHECKING:
    from .server import ComfyDouble


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()  # cached: the recording middleware may have read it already
    body = json.loads(raw) if raw else {}
    return body if isinstance(body, dict) else {}


class Routes:
    def __init__(self, double: ComfyDouble) -> None:
        self.double = double

    def register(self, app: web.Application) -> None:
        table = [
            ("GET", "/ws", self.double.websocket),
            ("GET", "/prompt", self.get_prompt),
            ("POST", "/prompt", self.post_prompt),
            ("GET", "/queue", self.get_queue),
            ("POST", "/queue", self.post_queue),
            ("GET", "/history", self.get_history),
            ("GET", "/history/{prompt_id}", self.get_history_entry),
            ("POST", "/history", self.post_history),
            ("POST", "/interrupt", self.post_interrupt),
            ("POST", "/free", self.post_free),
            ("GET", "/view", self.get_view),
            ("POST", "/upload/image", self.post_upload_image),
            ("GET", "/object_info", self.get_object_info),
            ("GET", "/object_info/{node_class}", self.get_object_info_node),
            ("GET", "/models", self.get_models),
            ("GET", "/models/{folder}", self.get_model_folder),
            ("GET", "/system_stats", self.get_system_stats),
            ("GET", "/features", self.get_features),
            ("GET", "/embeddings", self.get_embeddings),
            ("GET", "/extensions", self.get_extensions),
        ]
        for method, path, handler in table:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, "/api" + path, handler)
        version = self.double.version
        if self.double.jobs_api:
            JobsApi(self.double).register(app)
        if version.assets_routes:
            app.router.add_get("/api/assets", self.get_assets)

    # --- queue and prompts ---------------------------------------------------------------

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self.double.queue_info())

    async def post_prompt(self, request: web.Request) -> web.Response:
        return await self.double.submit(await request.json())

    async def get_queue(self, request: web.Request) -> web.Response:
        running = self.double.running
        return web.json_response(
            {
                "queue_running": [running] if running else [],
                "queue_pending": self.double.queue_pending,
            }
        )

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body.get("clear"):
            await self.double.delete_pending(lambda entry: True)
        for prompt_id in body.get("delete", []):
            await self.double.delete_pending(lambda entry, wanted=prompt_id: entry[1] == wanted)
        return web.Response()

    async def post_interrupt(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        self.double.interrupt(body.get("prompt_id"))
        return web.Response()

    async def post_free(self, request: web.Request) -> web.Response:
        return web.Response()

    # --- history and jobs ----------------------------------------------------------------

    async def get_history(self, request: web.Request) -> web.Response:
        history = self.double.history
        max_items = int(request.query["max_items"]) if "max_items" in request.query else None
        offset = int(request.query.get("offset", -1))
        if offset < 0 and max_items is not None:
            offset = len(history) - max_items
        selected: dict[str, Any] = {}
        for index, (prompt_id, entry) in enumerate(history.items()):
            if index >= offset:
                selected[prompt_id] = entry
                if max_items is not None and len(selected) >= max_items:
                    break
        return web.json_response(selected)

    async def get_history_entry(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self.double.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry else {})

    async def post_history(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body.get("clear"):
            self.double.history.clear()
        for prompt_id in body.get("delete", []):
            self.double.history.pop(prompt_id, None)
        return web.Response()

    # --- files ---------------------------------------------------------------------------

    def _folder(self, kind: str) -> Path | None:
        workspace = self.double.workspace
        return {
            "output": workspace.output_dir,
            "input": workspace.input_dir,
            "temp": workspace.temp_dir,
        }.get(kind)

    async def get_view(self, request: web.Request) -> web.StreamResponse:
        if "filename" not in request.query:
            return web.Response(status=404)
        filename = request.query["filename"]
        if forged := self.double.faults.forged_file(filename):
            return await self._stream_forged(request, forged)
        if not filename or filename.startswith("/") or ".." in filename:
            return web.Response(status=400)
        base = self._folder(request.query.get("type", "output"))
        if base is None:
            return web.Response(status=400)
        folder = (base / request.query.get("subfolder", "")).resolve()
        if not folder.is_relative_to(base.resolve()):
            return web.Response(status=403)
        path = folder / filename
        if not path.is_file():
            return web.Response(status=404)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return web.FileResponse(
            path,
            headers={
                "Content-Type": content_type,
                "Content-Disposition": f'filename="{filename}"',
            },
        )

    async def _stream_forged(
        self, request: web.Request, forged: ForgedOutput
    ) -> web.StreamResponse:
        content_type = forged.content_type or mimetypes.guess_type(forged.filename)[0]
        response = web.StreamResponse(
            headers={
                "Content-Type": content_type or "application/octet-stream",
                "Content-Disposition": f'filename="{forged.filename}"',
            }
        )
        await response.prepare(request)
        for chunk in forged.chunks():
            await response.write(chunk)
        await response.write_eof()
        return response

    async def post_upload_image(self, request: web.Request) -> web.Response:
        form = await request.post()
        image = form.get("image")
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        kind = str(form.get("type") or "input")
        base = self._folder(kind)
        subfolder = str(form.get("subfolder", ""))
        if base is None:
            return web.Response(status=400)
        folder = (base / subfolder).resolve()
        if not folder.is_relative_to(base.resolve()):
            return web.Response(status=400)
        data = image.file.read()
        name = image.filename
        overwrite = str(form.get("overwrite", "")) in ("true", "1")
        stem, suffix = Path(name).stem, Path(name).suffix
        counter = 1
        while not overwrite and (folder / name).exists():
            if (folder / name).read_bytes() == data:
                break
            name = f"{stem} ({counter}){suffix}"
            counter += 1
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        if kind == "input":
            self.double.uploaded[f"{subfolder}/{name}" if subfolder else name] = data
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    # --- server description ----------------------------------------------------------------

    async def get_object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.double.object_info())

    async def get_object_info_node(self, request: web.Request) -> web.Response:
        node_class = request.match_info["node_class"]
        info = self.double.object_info()
        return web.json_response({node_class: info[node_class]} if node_class in info else {})

    async def get_models(self, request: web.Request) -> web.Response:
        return web.json_response(self.double.version.model_folders)

    async def get_model_folder(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in self.double.version.model_folders:
            return web.Response(status=404)
        return web.json_response(self.double.models.get(folder, []))

    async def get_system_stats(self, request: web.Request) -> web.Response:
        return web.json_response(system_stats(self.double.version))

    async def get_features(self, request: web.Request) -> web.Response:
        return web.json_response(self.double.version.features)

    async def get_embeddings(self, request: web.Request) -> web.Response:
        return web.json_response(self.double.models.get("embeddings", []))

    async def get_extensions(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def get_assets(self, request: web.Request) -> web.Response:
        error = {
            "code": "SERVICE_DISABLED",
            "message": "Assets system is disabled. Start the server with --enable-assets to use"
            " this feature.",
            "details": {},
        }
        return web.json_response({"error": error}, status=503)
