"""Listing the workflows, and uploading or deleting them (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from comfyui_pipe.comfy.errors import ComfyError
from comfyui_pipe.openwebui.schemas import BoundsOut, WorkflowOut, WorkflowUpload
from comfyui_pipe.workflow import (
    Workflow,
    bundled_workflows,
    check_against,
    detect_parameters,
    parse_workflow,
)

from .common import AdminUser, Runtime, VerifiedUser, error_responses, http_error

router = APIRouter()


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
    responses=error_responses(400, 403, 409, 422, 503),
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
        raise http_error(error) from None
    await runtime.workflow_store.save(body.id, body.workflow, meta, admin.id)
    await runtime.reload_workflows()
    valves = await runtime.valves()
    return workflow_out(workflow, False, valves.default_workflow)


@router.delete(
    "/workflows/{workflow_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an uploaded workflow (admin)",
    description="Bundled workflows cannot be deleted (409); disable them in the settings.",
    responses=error_responses(403, 404, 409),
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
