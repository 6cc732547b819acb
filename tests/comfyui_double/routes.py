"""HTTP routes of the double, each also answering under the /api prefix."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .schema import MODEL_FOLDERS
from .sockets import SERVER_FEATURES

if TYPE_CHECKING:
    from .server import ComfyDouble

SYSTEM_STATS = {
    "system": {
        "os": "linux",
        "ram_total": 25276510208,
        "ram_free": 21256921088,
        "comfyui_version": "0.8.0",
        "required_frontend_version": "1.35.9",
        "installed_templates_version": "0.7.67",
        "required_templates_version": "0.7.67",
        "python_version": "3.11.7 (main) [GCC 12.2.0]",
        "pytorch_version": "2.13.0+cpu",
        "embedded_python": False,
        "argv": ["main.py", "--cpu", "--listen", "127.0.0.1", "--preview-method", "auto"],
    },
    "devices": [
        {
            "name": "cpu",
            "type": "cpu",
            "index": None,
            "vram_total": 25276510208,
            "vram_free": 21256921088,
            "torch_vram_total": 25276510208,
            "torch_vram_free": 21256921088,
        }
    ],
}


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
        if self.double.jobs_api:
            app.router.add_get("/api/jobs", self.get_jobs)
            app.router.add_get("/api/jobs/{job_id}", self.get_job)
            app.router.add_post("/api/jobs/{job_id}/cancel", self.post_job_cancel)

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

    async def get_jobs(self, request: web.Request) -> web.Response:
        jobs = [self._job(prompt_id) for prompt_id in self._job_ids()]
        if "status" in request.query:
            wanted = set(request.query["status"].split(","))
            jobs = [job for job in jobs if job["status"] in wanted]
        descending = request.query.get("sort_order", "desc") == "desc"
        jobs.sort(key=lambda job: job["create_time"], reverse=descending)
        offset = int(request.query.get("offset", 0))
        limit = int(request.query["limit"]) if "limit" in request.query else None
        page = jobs[offset : None if limit is None else offset + limit]
        pagination = {
            "offset": offset,
            "limit": limit,
            "total": len(jobs),
            "has_more": offset + len(page) < len(jobs),
        }
        return web.json_response({"jobs": page, "pagination": pagination})

    async def get_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self._job_ids():
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response(self._job(job_id, detailed=True))

    async def post_job_cancel(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        cancelled = await self.double.delete_pending(lambda entry: entry[1] == job_id)
        cancelled = cancelled or self.double.interrupt(job_id)
        return web.json_response({"cancelled": cancelled})

    def _job_ids(self) -> list[str]:
        state = self.double.state
        queued = ([state.running] if state.running else []) + state.pending
        return [entry[1] for entry in queued] + list(state.history)

    def _job(self, prompt_id: str, detailed: bool = False) -> dict[str, Any]:
        state = self.double.state
        entry = self.double.history.get(prompt_id)
        queued = next(
            (item for item in [state.running, *state.pending] if item and item[1] == prompt_id),
            None,
        )
        number, _, prompt, extra_data, _ = entry["prompt"] if entry else queued
        times = state.times.get(prompt_id)
        job: dict[str, Any] = {
            "id": prompt_id,
            "status": _job_status(entry, running=queued is state.running),
            "priority": number,
            "create_time": extra_data.get("create_time"),
        }
        if times and times.started:
            job["execution_start_time"] = times.started
        if entry is None:
            return job
        job["execution_end_time"] = times.ended if times else None
        messages = entry["status"]["messages"]
        errors = [data for event, data in messages if event == "execution_error"]
        if errors:
            job["execution_error"] = errors[-1]
        previews = [
            {**item, "nodeId": node_id, "mediaType": kind}
            for node_id, output in entry["outputs"].items()
            for kind, items in output.items()
            if isinstance(items, list)
            for item in items
            if isinstance(item, dict) and "filename" in item
        ]
        job["outputs_count"] = len(previews)
        if previews:
            job["preview_output"] = previews[0]
        if detailed:
            job["outputs"] = entry["outputs"]
            job["execution_status"] = entry["status"]
            job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
        return job

    # --- files ---------------------------------------------------------------------------

    def _folder(self, kind: str) -> Path | None:
        workspace = self.double.workspace
        return {
            "output": workspace.output_dir,
            "input": workspace.input_dir,
            "temp": workspace.temp_dir,
        }.get(kind)

    async def get_view(self, request: web.Request) -> web.StreamResponse:
        filename = request.query.get("filename", "")
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
        return web.json_response(MODEL_FOLDERS)

    async def get_model_folder(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            return web.Response(status=404)
        return web.json_response(self.double.models.get(folder, []))

    async def get_system_stats(self, request: web.Request) -> web.Response:
        return web.json_response(SYSTEM_STATS)

    async def get_features(self, request: web.Request) -> web.Response:
        return web.json_response(SERVER_FEATURES)

    async def get_embeddings(self, request: web.Request) -> web.Response:
        return web.json_response(self.double.models.get("embeddings", []))

    async def get_extensions(self, request: web.Request) -> web.Response:
        return web.json_response([])


def _job_status(entry: dict[str, Any] | None, running: bool) -> str:
    if entry is None:
        return "in_progress" if running else "pending"
    if entry["status"]["status_str"] == "success":
        return "completed"
    if any(event == "execution_interrupted" for event, _ in entry["status"]["messages"]):
        return "cancelled"
    return "failed"
