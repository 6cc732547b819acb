"""The HTTP API under ``/api/v1/comfyui``, behind Open WebUI's own auth.

Everything goes through the plugin runtime the chat uses: the same service
(so the per-user job limit counts chat and API jobs together), the same jobs
table and the same settings store as the Pipe's valves. Errors answer
``{"detail": "<sentence>"}`` like the rest of Open WebUI. Another user's job is
answered with 404, never 403, so job ids cannot be probed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from open_webui.models.files import Files
from open_webui.models.users import UserModel
from open_webui.socket.main import get_event_emitter
from open_webui.storage.provider import Storage
from open_webui.utils.access_control.files import has_access_to_file
from open_webui.utils.auth import get_verified_user
from pydantic import ValidationError

from comfyui_pipe.comfy.errors import ComfyError
from comfyui_pipe.comfy.model_lists import LOADER_INPUTS
from comfyui_pipe.generation.backends import BackendHealth
from comfyui_pipe.generation.errors import JobNotFound, for_user, http_status
from comfyui_pipe.generation.options import LoraRequest, RequestOptions
from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.generation.service import GenerationRequest, GenerationService, InputImage
from comfyui_pipe.openwebui.runtime import PluginRuntime, get_runtime
from comfyui_pipe.openwebui.schemas import (
    BackendHealthOut,
    BoundsOut,
    ErrorOut,
    GenerateRequest,
    HealthOut,
    JobLinks,
    JobOut,
    JobPage,
    JobProgress,
    ModelsOut,
    SettingsUpdate,
    WorkflowOut,
    WorkflowUpload,
)
from comfyui_pipe.openwebui.valves import Valves
from comfyui_pipe.progress import ProgressSnapshot
from comfyui_pipe.workflow import (
    Workflow,
    bundled_workflows,
    check_against,
    detect_parameters,
    parse_workflow,
)

PREFIX = "/api/v1/comfyui"
JOB_EVENT = "comfyui:job"
JOB_EVENT_INTERVAL = 0.5
BACKGROUND_TASKS = "comfyui_pipe_api_tasks"

router = APIRouter(prefix=PREFIX, tags=["comfyui"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


VerifiedUser = Annotated[UserModel, Depends(get_verified_user)]


def require_admin(user: VerifiedUser) -> UserModel:
    """Like Open WebUI's ``get_admin_user``, but a signed-in non-admin gets 403, not 401."""
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only administrators may do this.")
    return user


async def runtime_of(request: Request) -> PluginRuntime:
    return await get_runtime(request.app)


AdminUser = Annotated[UserModel, Depends(require_admin)]
Runtime = Annotated[PluginRuntime, Depends(runtime_of)]


def _http_error(error: ComfyError) -> HTTPException:
    error = for_user(error)  # no backend URL in what the browser sees
    return HTTPException(http_status(error), str(error))


# --- generation and jobs -------------------------------------------------------------


@router.post(
    "/generate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Start a generation",
    description="Validates the request against the workflow, the admin's limits and the "
    "ComfyUI server, queues it and answers at once with the job. Progress arrives as "
    f"Socket.IO `events` of type `{JOB_EVENT}` in your room and through GET /jobs/{{id}}.",
    responses=_errors(400, 404, 415, 422, 429, 502, 503),
)
async def generate(
    body: GenerateRequest,
    request: Request,
    user: VerifiedUser,
    runtime: Runtime,
) -> JobOut:
    valves = await runtime.valves()
    images = [await _input_image(reference, user) for reference in body.images]
    generation = GenerationRequest(
        owner_id=user.id,
        workflow_id=body.workflow or valves.default_workflow,
        prompt=body.prompt,
        options=_options(body),
        images=images,
    )
    events = JobEvents(user.id)
    try:
        record = await runtime.service.start(generation, on_progress=events.progress)
    except ComfyError as error:
        raise _http_error(error) from None
    _in_background(request.app, events.end(runtime.service, record.id))
    return job_out(record)


@router.get(
    "/jobs",
    response_model=JobPage,
    summary="List jobs",
    description="Your jobs, newest first. Admins may pass `all=true` to list everyone's.",
)
async def list_jobs(
    user: VerifiedUser,
    runtime: Runtime,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    offset: Annotated[int, Query(ge=0, description="Jobs to skip.")] = 0,
    everyone: Annotated[
        bool, Query(alias="all", description="Everyone's jobs (admins only).")
    ] = False,
) -> JobPage:
    if everyone and user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only administrators may list all jobs.")
    records, total = await runtime.jobs.list(None if everyone else user.id, limit, offset)
    return JobPage(items=[job_out(r) for r in records], total=total, limit=limit, offset=offset)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    summary="Get a job",
    description="State, progress, error and outputs of one of your jobs.",
    responses=_errors(404),
)
async def get_job(
    job_id: str,
    user: VerifiedUser,
    runtime: Runtime,
) -> JobOut:
    return job_out(await _visible_job(runtime, job_id, user))


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job",
    description="Cancels this job on ComfyUI, queued or running, and nothing else. "
    "Cancelling a finished job changes nothing.",
    responses=_errors(404),
)
async def cancel_job(
    job_id: str,
    user: VerifiedUser,
    runtime: Runtime,
) -> JobOut:
    record = await _visible_job(runtime, job_id, user)
    if record.state.terminal:
        return job_out(record)
    try:
        return job_out(await runtime.service.cancel(record.id))
    except ComfyError as error:
        raise _http_error(error) from None


async def _visible_job(runtime: PluginRuntime, job_id: str, user: UserModel) -> JobRecord:
    record = await runtime.jobs.get(job_id)
    if record is None or (record.owner_id != user.id and user.role != "admin"):
        raise _http_error(JobNotFound(job_id))
    return record


def job_out(record: JobRecord) -> JobOut:
    path = f"{PREFIX}/jobs/{record.id}"
    return JobOut(
        id=record.id,
        owner_id=record.owner_id,
        state=record.state.value,
        workflow=record.workflow_id,
        params=record.params,
        chat_id=record.chat_id,
        message_id=record.message_id,
        created_at=_time(record.created_at),
        started_at=_time(record.started_at),
        finished_at=_time(record.finished_at),
        error=record.error,
        output_file_ids=record.output_file_ids,
        progress=JobProgress.model_validate(record.progress) if record.progress else None,
        links=JobLinks(
            self=path,
            cancel=f"{path}/cancel",
            outputs=[f"/api/v1/files/{file_id}/content" for file_id in record.output_file_ids],
        ),
    )


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _options(body: GenerateRequest) -> RequestOptions:
    aspect = None
    if body.aspect_ratio:
        across, down = body.aspect_ratio.split(":")
        aspect = (int(across), int(down))
    return RequestOptions(
        width=body.width,
        height=body.height,
        aspect=aspect,
        steps=body.steps,
        cfg=body.cfg,
        seed=body.seed,
        count=body.count,
        negative_prompt=body.negative_prompt,
        loras=[LoraRequest(lora.name, lora.strength) for lora in body.loras],
    )


_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[^,]*)?;base64,(?P<data>.*)$", re.S)


async def _input_image(reference: str, user: UserModel) -> InputImage:
    """An Open WebUI file id the user may read, or a base64 data URL."""
    if reference.startswith("data:"):
        match = _DATA_URL.match(reference)
        try:
            data = base64.b64decode(match["data"], validate=True) if match else b""
        except binascii.Error:
            data = b""
        if not data:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "An image is not a base64 data URL.")
        content_type = match["type"] or "application/octet-stream"
        extension = content_type.rsplit("/", 1)[-1]
        return InputImage(f"upload.{extension}", data, content_type)
    file = await Files.get_file_by_id(reference)
    readable = file is not None and (
        file.user_id == user.id
        or user.role == "admin"
        or await has_access_to_file(reference, "read", user)
    )
    if not readable or not file.path:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"There is no file '{reference}'.")
    path = await asyncio.to_thread(Storage.get_file, file.path)
    data = await asyncio.to_thread(_read_bytes, path)
    meta = file.meta or {}
    return InputImage(
        meta.get("name", file.filename),
        data,
        meta.get("content_type") or "application/octet-stream",
    )


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as source:
        return source.read()


class JobEvents:
    """A job's progress in its owner's Socket.IO room: every change of state at once,
    progress within a state at most every ``interval`` seconds, and the end."""

    def __init__(self, user_id: str, interval: float = JOB_EVENT_INTERVAL) -> None:
        self._request_info = {"user_id": user_id, "chat_id": None, "message_id": None}
        self._interval = interval
        self._last_state: str | None = None
        self._last_sent_at = float("-inf")

    async def progress(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        now = time.monotonic()
        if record.state == self._last_state and now - self._last_sent_at < self._interval:
            return
        self._last_state, self._last_sent_at = record.state, now
        await self._send(record)

    async def end(self, service: GenerationService, job_id: str) -> None:
        """Wait for the job's terminal record (bounded by the job timeout) and send it:
        the service reports progress only while the job runs on ComfyUI."""
        await self._send(await service.wait(job_id))

    async def _send(self, record: JobRecord) -> None:
        emit = await get_event_emitter(self._request_info, update_db=False)
        await emit({"type": JOB_EVENT, "data": job_event_data(record)})


def job_event_data(record: JobRecord) -> dict[str, Any]:
    progress = record.progress or {}
    return {
        "id": record.id,
        "state": record.state.value,
        "percent": progress.get("percent", 0.0),
        "phase": progress.get("phase"),
        "description": record.error or progress.get("text"),
        "eta": progress.get("eta_seconds"),
        "output_file_ids": record.output_file_ids,
    }


def _in_background(app: Any, coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` after the response; the app keeps the task until it ends."""
    tasks: set[asyncio.Task[None]] = getattr(app.state, BACKGROUND_TASKS, None) or set()
    setattr(app.state, BACKGROUND_TASKS, tasks)
    task = asyncio.create_task(coroutine)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


# --- workflows -----------------------------------------------------------------------


@router.get(
    "/workflows",
    response_model=list[WorkflowOut],
    summary="List workflows",
    description="The enabled workflows, with the parameters each takes, defaults and bounds.",
)
async def list_workflows(
    _user: VerifiedUser,
    runtime: Runtime,
) -> list[WorkflowOut]:
    valves = await runtime.valves()
    bundled = set(bundled_workflows())
    workflows = await runtime.workflows()
    return [
        workflow_out(workflow, workflow.id in bundled, valves.default_workflow)
        for workflow in workflows.values()
    ]


@router.post(
    "/workflows",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkflowOut,
    summary="Upload a workflow (admin)",
    description='An API-format workflow ("Save (API)" in ComfyUI) and optional metadata. It '
    "is checked against the ComfyUI server first: missing node types, models or invalid "
    "values answer 422 with one sentence per problem. Uploading an existing uploaded id "
    "replaces it. The workflow then appears as a chat model.",
    responses=_errors(400, 403, 409, 422, 503),
)
async def upload_workflow(
    body: WorkflowUpload,
    admin: AdminUser,
    runtime: Runtime,
) -> WorkflowOut:
    if body.id in bundled_workflows():
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"'{body.id}' is a bundled workflow; upload yours under another id.",
        )
    meta = body.meta.model_dump(exclude_none=True)
    workflow = _parsed(body.workflow, body.id, meta)
    try:
        server = await runtime.pool.pick()
        check_against(workflow.graph, await runtime.pool.object_info(server))
    except ComfyError as error:
        raise _http_error(error) from None
    await runtime.workflow_store.save(body.id, body.workflow, meta, admin.id)
    await runtime.reload_workflows()
    valves = await runtime.valves()
    return workflow_out(workflow, False, valves.default_workflow)


@router.delete(
    "/workflows/{workflow_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an uploaded workflow (admin)",
    description="Bundled workflows cannot be deleted (409); disable them in the settings.",
    responses=_errors(403, 404, 409),
)
async def delete_workflow(
    workflow_id: str,
    _admin: AdminUser,
    runtime: Runtime,
) -> None:
    if workflow_id in bundled_workflows():
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"'{workflow_id}' is a bundled workflow and cannot be deleted; "
            "remove it from enabled_workflows in the settings to hide it instead.",
        )
    if not await runtime.workflow_store.delete(workflow_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"There is no workflow '{workflow_id}'.")
    await runtime.reload_workflows()


def _parsed(graph: dict[str, Any], workflow_id: str, meta: dict[str, Any]) -> Workflow:
    try:
        return parse_workflow(graph, workflow_id, meta)
    except (ValueError, KeyError, TypeError) as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


def workflow_out(workflow: Workflow, bundled: bool, default_id: str) -> WorkflowOut:
    meta = workflow.meta
    found = detect_parameters(workflow.graph).overridden_by(meta.mapping.targets)
    parameters = {name for name in found.targets if name in found}
    if found.model_loader:
        parameters.add("loras")
    return WorkflowOut(
        id=workflow.id,
        title=workflow.title,
        kind=meta.kind,
        description=meta.description,
        source="bundled" if bundled else "uploaded",
        default=workflow.id == default_id,
        parameters=sorted(parameters),
        defaults=dict(meta.defaults),
        bounds={
            name: BoundsOut(min=bounds.minimum, max=bounds.maximum)
            for name, bounds in meta.bounds.items()
        },
    )


# --- ComfyUI: models and health ------------------------------------------------------


@router.get(
    "/models",
    response_model=ModelsOut,
    summary="List models",
    description="Checkpoints, LoRAs, diffusion models, VAEs, text encoders, upscale "
    "models, … installed on ComfyUI (the least busy reachable backend).",
    responses=_errors(502, 503),
)
async def list_models(
    _user: VerifiedUser,
    runtime: Runtime,
) -> ModelsOut:
    try:
        server = await runtime.pool.pick()
        folders = list(LOADER_INPUTS)
        files = await asyncio.gather(*(server.client.models(folder) for folder in folders))
    except ComfyError as error:
        raise _http_error(error) from None
    return ModelsOut(models=dict(zip(folders, files, strict=True)))


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Backend health",
    description="Per ComfyUI backend: reachable, version, queue and devices. URLs are shown "
    "to admins only.",
)
async def health(
    user: VerifiedUser,
    runtime: Runtime,
) -> HealthOut:
    backends = [
        BackendHealthOut(
            name=f"backend {number}",
            url=backend.url if user.role == "admin" else None,
            reachable=backend.reachable,
            version=backend.version,
            queue_running=backend.queue_running,
            queue_pending=backend.queue_pending,
            devices=backend.devices,
            error=backend.error if user.role == "admin" else _without_url(backend, number),
        )
        for number, backend in enumerate(await runtime.pool.health(), start=1)
    ]
    return HealthOut(ok=any(b.reachable for b in backends), backends=backends)


def _without_url(backend: BackendHealth, number: int) -> str | None:
    if backend.error is None:
        return None
    return str(backend.error).replace(backend.url, f"backend {number}")


# --- settings (the Pipe's valves) -----------------------------------------------------


@router.get(
    "/settings",
    response_model=Valves,
    summary="Read the settings (admin)",
    description="The Pipe's valves: the same values as Workspace → Functions → ComfyUI, "
    "secrets included.",
    responses=_errors(403),
)
async def read_settings(
    _admin: AdminUser,
    runtime: Runtime,
) -> Valves:
    return await runtime.valves()


@router.put(
    "/settings",
    response_model=Valves,
    summary="Change the settings (admin)",
    description="Any subset of the valves; the others keep their values. Saved where the "
    "admin panel saves them, so the Pipe sees the change at once.",
    responses=_errors(403, 422),
)
async def update_settings(
    body: SettingsUpdate,  # type: ignore[valid-type]
    _admin: AdminUser,
    runtime: Runtime,
) -> Valves:
    current = await runtime.valves()
    try:
        valves = Valves.model_validate(
            {**current.model_dump(), **body.model_dump(exclude_unset=True)}
        )
    except ValidationError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            " ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}." for e in error.errors()),
        ) from None
    return await runtime.update_valves(valves.model_dump())
