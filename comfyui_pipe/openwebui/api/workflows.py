"""Listing the workflows, and uploading or deleting them (admins)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, status

from comfyui_pipe.comfy import Problem
from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.limits import request_fields
from comfyui_pipe.openwebui.api.schemas import BoundsOut, WorkflowOut, WorkflowUpload
from comfyui_pipe.openwebui.catalog.availability import (
    missing_everywhere,
    reachable_object_infos,
)
from comfyui_pipe.openwebui.presenter import describe_problem
from comfyui_pipe.workflow import Workflow, bundled_workflows, parse_workflow
from comfyui_pipe.workflow.limits import MAX_LINKS, MAX_NODES, MAX_UPLOAD_BYTES, WorkflowTooLarge
from comfyui_pipe.workflow.ui_format import (
    MissingNodeTypes,
    UIConversionError,
    is_ui_workflow,
    ui_to_api,
)

from .body_limit import body_limited
from .common import AdminUser, Runtime, VerifiedUser, error_responses, http_error, sub_router

router = sub_router(body_limited(MAX_UPLOAD_BYTES))


@router.get(
    "/workflows",
    response_model=list[WorkflowOut],
    summary="List workflows",
    description="The workflows you may use (those whose chat model you may use), with the "
    "request fields each takes, defaults and bounds.",
    responses=error_responses(),
)
async def list_workflows(
    user: VerifiedUser,
    runtime: Runtime,
) -> list[WorkflowOut]:
    bundled = set(bundled_workflows())
    workflows = await runtime.workflows()
    usable = await runtime.choice(workflows).usable(user)
    infos = await reachable_object_infos(runtime.service.pool)
    missing = missing_everywhere(usable, infos)
    return [
        workflow_out(workflow, workflow.id in bundled, runtime.config.default_workflow, missing)
        for workflow in usable
    ]


@router.post(
    "/workflows",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkflowOut,
    summary="Upload a workflow (admin)",
    description="A workflow (API format, or the editor's own UI format, which is converted "
    "with the server's node schemas) and optional metadata. It "
    "is checked against the ComfyUI server first: missing node types, models or invalid "
    "values answer 422 with one sentence per problem. A body over "
    f"{MAX_UPLOAD_BYTES // 2**20} MiB, or a workflow of more than {MAX_NODES:,} nodes or "
    f"{MAX_LINKS:,} links (subgraphs expanded), answers 413. "
    "Uploading an existing uploaded id replaces it. The workflow then appears as a chat "
    "model.",
    responses=error_responses(400, 409, 413, 422, 502, 503),
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
    graph = await _in_api_format(body.workflow, runtime)
    workflow = await _parsed(graph, body.id, meta)
    try:
        await runtime.service.check(workflow)
    except PipeError as error:
        raise http_error(error) from None
    await runtime.workflow_store.save(body.id, graph, meta, admin.id)
    await runtime.reload_workflows()
    return workflow_out(workflow, False, runtime.config.default_workflow)


@router.delete(
    "/workflows/{workflow_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an uploaded workflow (admin)",
    description="Bundled workflows cannot be deleted (409); disable them in the settings.",
    responses=error_responses(404, 409),
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


async def _in_api_format(graph: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """A UI-format (editor) upload converted with the server's node schemas (in a worker
    thread, like the parsing: a large workflow takes a noticeable fraction of a second,
    which other users' requests do not wait for)."""
    if not is_ui_workflow(graph):
        return graph
    try:
        object_info = await runtime.service.object_info()
        return await asyncio.to_thread(ui_to_api, graph, object_info)
    except PipeError as error:
        raise http_error(error) from None
    except WorkflowTooLarge as error:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(error)) from None
    except MissingNodeTypes as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    except UIConversionError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


async def _parsed(graph: dict[str, Any], workflow_id: str, meta: dict[str, Any]) -> Workflow:
    try:
        return await asyncio.to_thread(parse_workflow, graph, workflow_id, meta)
    except WorkflowTooLarge as error:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(error)) from None
    except (ValueError, KeyError, TypeError) as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


def workflow_out(
    workflow: Workflow,
    bundled: bool,
    default_id: str,
    missing: Mapping[str, list[Problem]] | None = None,
) -> WorkflowOut:
    meta = workflow.meta
    lacking = (missing or {}).get(workflow.id, [])
    return WorkflowOut(
        id=workflow.id,
        title=workflow.title,
        kind=meta.kind,
        description=meta.description,
        source="bundled" if bundled else "uploaded",
        default=workflow.id == default_id,
        parameters=request_fields(workflow),
        defaults=dict(meta.defaults),
        bounds={
            name: BoundsOut(min=bounds.minimum, max=bounds.maximum)
            for name, bounds in meta.bounds.items()
        },
        outputs=list(workflow.output_kinds),
        available=not lacking,
        missing=[describe_problem(problem) for problem in lacking],
    )
