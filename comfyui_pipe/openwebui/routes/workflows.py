"""Listing the workflows, and uploading or deleting them (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from comfyui_pipe.errors import UserError
from comfyui_pipe.openwebui.schemas import BoundsOut, WorkflowOut, WorkflowUpload
from comfyui_pipe.workflow import Workflow, bundled_workflows, parse_workflow
from comfyui_pipe.workflow.ui_format import (
    MissingNodeTypes,
    UIConversionError,
    is_ui_workflow,
    ui_to_api,
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
    description="A workflow (API format, or the editor's own UI format, which is converted "
    "with the server's node schemas) and optional metadata. It "
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
    graph = await _in_api_format(body.workflow, runtime)
    workflow = _parsed(graph, body.id, meta)
    try:
        await runtime.service.check(workflow)
    except UserError as error:
        raise http_error(error) from None
    await runtime.workflow_store.save(body.id, graph, meta, admin.id)
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


async def _in_api_format(graph: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """A UI-format (editor) upload converted with the server's node schemas."""
    if not is_ui_workflow(graph):
        return graph
    try:
        return ui_to_api(graph, await runtime.service.object_info())
    except UserError as error:
        raise http_error(error) from None
    except MissingNodeTypes as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    except UIConversionError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


def _parsed(graph: dict[str, Any], workflow_id: str, meta: dict[str, Any]) -> Workflow:
    try:
        return parse_workflow(graph, workflow_id, meta)
    except (ValueError, KeyError, TypeError) as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


def workflow_out(workflow: Workflow, bundled: bool, default_id: str) -> WorkflowOut:
    meta = workflow.meta
    found = workflow.parameters
    parameters = set(found.targets)
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
