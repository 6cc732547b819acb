"""Starting a generation and following, listing and cancelling jobs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import HTTPException, Query, Request, status
from pydantic import ValidationError

from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.errors import JobNotFound
from comfyui_pipe.generation.limits import check_lists, max_request_bytes
from comfyui_pipe.generation.options import LoraRequest, RequestOptions, parse_aspect
from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.generation.request import GenerationRequest
from comfyui_pipe.openwebui.api.events import JOB_EVENT, JobEvents
from comfyui_pipe.openwebui.api.schemas import (
    GenerateRequest,
    JobLinks,
    JobOut,
    JobPage,
    JobProgress,
)
from comfyui_pipe.openwebui.host_values import User
from comfyui_pipe.openwebui.presenter import describe_failure
from comfyui_pipe.openwebui.runtime import PluginRuntime, get_runtime
from comfyui_pipe.openwebui.store.files import file_content_url
from comfyui_pipe.openwebui.store.input_images import input_image

from .body_limit import body_limited
from .common import PREFIX, Runtime, VerifiedUser, error_responses, http_error, sub_router

logger = logging.getLogger(__name__)

MAX_OFFSET = 1_000_000_000
"""Beyond any real job count, within what every database takes as an OFFSET."""


async def largest_body(request: Request) -> int:
    """The most bytes a valid generation request needs (images included)."""
    runtime = await get_runtime(request.app)
    return max_request_bytes(runtime.service.policy.limits, runtime.service.workflows.values())


router = sub_router(body_limited(largest_body))


@router.post(
    "/generate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Start a generation",
    description="Validates the request against the workflow, the admin's limits and the "
    "ComfyUI server, queues it and answers at once with the job. Progress arrives as "
    f"Socket.IO `events` of type `{JOB_EVENT}` in your room and through GET /jobs/{{id}}. "
    "A body larger than the most a valid request needs (as many images as a workflow "
    "takes, each within the admin's max_image_bytes as a base64 data URL, plus the "
    "prompts) answers 413 before it is read.",
    responses=error_responses(400, 404, 413, 415, 422, 429, 502, 503),
)
async def generate(
    body: GenerateRequest,
    user: VerifiedUser,
    runtime: Runtime,
) -> JobOut:
    workflow_id = body.workflow or runtime.config.default_workflow
    try:
        workflow = await runtime.choice().named(user, workflow_id)
        check_lists(workflow, len(body.loras), len(body.images))
        images = [
            await input_image(
                runtime.host.files,
                reference,
                user,
                runtime.service.policy.limits,
                f"image-{number}",
            )
            for number, reference in enumerate(body.images, start=1)
        ]
        generation = GenerationRequest(
            owner_id=user.id,
            workflow_id=workflow_id,
            prompt=body.prompt,
            options=_options(body),
            images=images,
        )
        record = await runtime.service.start(generation, JobEvents(runtime.host.events, user.id))
    except PipeError as error:
        raise http_error(error) from None
    return job_out(record)


@router.get(
    "/jobs",
    response_model=JobPage,
    summary="List jobs",
    description="Your jobs, newest first. Admins may pass `all=true` to list everyone's.",
    responses=error_responses(422),
)
async def list_jobs(
    user: VerifiedUser,
    runtime: Runtime,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Jobs to skip.")] = 0,
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
    responses=error_responses(404, 422),
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
    responses=error_responses(404, 422, 502, 503),
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
    except PipeError as error:
        raise http_error(error) from None


async def _visible_job(runtime: PluginRuntime, job_id: str, user: User) -> JobRecord:
    record = runtime.service.live(job_id) or await runtime.jobs.get(job_id)
    if record is None or (record.owner_id != user.id and user.role != "admin"):
        raise http_error(JobNotFound(job_id))
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
        error=describe_failure(record.failure) if record.failure is not None else None,
        attempt=record.attempt,
        output_file_ids=record.output_file_ids,
        progress=_progress_of(record),
        links=JobLinks(
            self=path,
            cancel=f"{path}/cancel",
            outputs=[file_content_url(file_id) for file_id in record.output_file_ids],
        ),
    )


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _options(body: GenerateRequest) -> RequestOptions:
    return RequestOptions(
        width=body.width,
        height=body.height,
        aspect=parse_aspect(body.aspect_ratio) if body.aspect_ratio else None,
        steps=body.steps,
        cfg=body.cfg,
        seed=body.seed,
        count=body.count,
        negative_prompt=body.negative_prompt,
        loras=[LoraRequest(lora.name, lora.strength) for lora in body.loras],
    )


def _progress_of(record: JobRecord) -> JobProgress | None:
    """The record's progress; none shown when an earlier version stored it otherwise (one
    such record must not take every listing down)."""
    if not record.progress:
        return None
    try:
        return JobProgress.model_validate(record.progress)
    except ValidationError:
        logger.warning("generation %s keeps progress of another shape", record.id)
        return None
