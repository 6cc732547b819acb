"""The jobs API (/api/jobs): one record per queued or finished prompt, and cancel."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .server import ComfyDouble

SORT_KEYS = ("created_at", "execution_duration")


class BadQuery(Exception):
    """A list parameter the server refuses; str() is its error sentence."""


class JobsApi:
    def __init__(self, double: ComfyDouble) -> None:
        self.double = double

    def register(self, app: web.Application) -> None:
        app.router.add_get("/api/jobs", self.get_jobs)
        app.router.add_get("/api/jobs/{job_id}", self.get_job)
        if self.double.version.jobs_cancel:
            app.router.add_post("/api/jobs/cancel", self.post_cancel_many)
            app.router.add_post("/api/jobs/{job_id}/cancel", self.post_cancel)

    async def get_jobs(self, request: web.Request) -> web.Response:
        try:
            query = self._list_query(request.query)
        except BadQuery as problem:
            return web.json_response({"error": str(problem)}, status=400)
        jobs = [self._job(prompt_id) for prompt_id in self._job_ids()]
        if query["statuses"] is not None:
            jobs = [job for job in jobs if job["status"] in query["statuses"]]
        if query["workflow_id"] is not None:
            jobs = [job for job in jobs if self._workflow_id(job["id"]) == query["workflow_id"]]
        key = _duration if query["sort_by"] == "execution_duration" else _created
        jobs.sort(key=key, reverse=query["descending"])
        offset, limit = query["offset"], query["limit"]
        page = jobs[offset : None if limit is None else offset + limit]
        pagination = {
            "offset": offset,
            "limit": limit,
            "total": len(jobs),
            "has_more": offset + len(page) < len(jobs),
        }
        return web.json_response({"jobs": page, "pagination": pagination})

    def _list_query(self, params: Any) -> dict[str, Any]:
        statuses = None
        if "status" in params:
            statuses = set(params["status"].split(","))
            valid = self.double.version.job_statuses
            if statuses - set(valid):
                wrong = ", ".join(sorted(statuses - set(valid)))
                raise BadQuery(
                    f"Invalid status value(s): {wrong}. Valid values: {', '.join(valid)}"
                )
        sort_by = params.get("sort_by", "created_at")
        if sort_by not in SORT_KEYS:
            raise BadQuery("sort_by must be 'created_at' or 'execution_duration'")
        sort_order = params.get("sort_order", "desc")
        if sort_order not in ("asc", "desc"):
            raise BadQuery("sort_order must be 'asc' or 'desc'")
        limit = None
        if "limit" in params:
            try:
                limit = int(params["limit"])
            except ValueError:
                raise BadQuery("limit must be an integer") from None
            if limit <= 0:
                raise BadQuery("limit must be a positive integer")
        return {
            "statuses": statuses,
            "workflow_id": params.get("workflow_id"),
            "sort_by": sort_by,
            "descending": sort_order == "desc",
            "limit": limit,
            "offset": max(0, int(params.get("offset", 0))),
        }

    async def get_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self._job_ids():
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response(self._job(job_id, detailed=True))

    async def post_cancel(self, request: web.Request) -> web.Response:
        return web.json_response({"cancelled": await self._cancel(request.match_info["job_id"])})

    async def post_cancel_many(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": "Request body must be valid JSON"}, status=400)
        job_ids = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(job_ids, list):
            return web.json_response({"error": "job_ids must be a list"}, status=400)
        invalid = [
            job_id if isinstance(job_id, str) else repr(job_id)
            for job_id in job_ids
            if not (isinstance(job_id, str) and _is_uuid(job_id))
        ]
        if invalid:
            error = {"error": "job_ids contains invalid id(s)", "invalid_ids": invalid}
            return web.json_response(error, status=400)
        cancelled = [await self._cancel(job_id) for job_id in job_ids]
        return web.json_response({"cancelled": any(cancelled)})

    async def _cancel(self, job_id: str) -> bool:
        """Pending: gone from the queue; running: interrupted; anything else: a no-op."""
        if await self.double.delete_pending(lambda entry: entry[1] == job_id):
            return True
        return self.double.interrupt(job_id)

    def _job_ids(self) -> list[str]:
        state = self.double.state
        queued = ([state.running] if state.running else []) + state.pending
        return [entry[1] for entry in queued] + list(state.history)

    def _workflow_id(self, prompt_id: str) -> Any:
        extra_data = self._queue_item(prompt_id)[3]
        workflow = (extra_data.get("extra_pnginfo") or {}).get("workflow") or {}
        return workflow.get("id")

    def _queue_item(self, prompt_id: str) -> list[Any]:
        state = self.double.state
        entry = self.double.history.get(prompt_id)
        if entry:
            return entry["prompt"]
        return next(
            list(item) for item in [state.running, *state.pending] if item and item[1] == prompt_id
        )

    def _job(self, prompt_id: str, detailed: bool = False) -> dict[str, Any]:
        version = self.double.version
        entry = self.double.history.get(prompt_id)
        number, _, prompt, extra_data, _ = self._queue_item(prompt_id)
        running = self.double.state.running
        job: dict[str, Any] = {
            "id": prompt_id,
            "status": self._status(entry, running is not None and running[1] == prompt_id),
            "priority": number,
            "create_time": extra_data.get("create_time"),
        }
        times = self.double.state.times.get(prompt_id)
        if entry is not None and times is not None:
            job["execution_start_time"] = times.started
            job["execution_end_time"] = times.ended
        errors = (
            [data for event, data in entry["status"]["messages"] if event == "execution_error"]
            if entry
            else []
        )
        if errors:
            job["execution_error"] = errors[-1]
        previews = _previewable(entry["outputs"]) if entry else []
        job["outputs_count"] = len(previews)
        if version.previewable_outputs_count:
            job["previewable_outputs_count"] = len(previews)
        if previews:
            job["preview_output"] = previews[0]
        if detailed and entry is not None:
            job["outputs"] = entry["outputs"]
            job["execution_status"] = entry["status"]
            job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
        return job

    def _status(self, entry: dict[str, Any] | None, running: bool) -> str:
        if entry is None:
            return "in_progress" if running else "pending"
        if entry["status"]["status_str"] == "success":
            return "completed"
        interrupted = any(
            event == "execution_interrupted" for event, _ in entry["status"]["messages"]
        )
        if interrupted and self.double.version.cancelled_status:
            return "cancelled"
        return "failed"


def _previewable(outputs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**item, "nodeId": node_id, "mediaType": kind}
        for node_id, output in outputs.items()
        for kind, items in output.items()
        if isinstance(items, list)
        for item in items
        if isinstance(item, dict) and "filename" in item
    ]


# As ComfyUI sorts: by one key, ties left in the listing's order (running, pending in queue
# order, then history), and a job without both times as 0 s long.


def _created(job: dict[str, Any]) -> Any:
    return job["create_time"] or 0


def _duration(job: dict[str, Any]) -> Any:
    start, end = job.get("execution_start_time"), job.get("execution_end_time")
    return end - start if start and end else 0


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
