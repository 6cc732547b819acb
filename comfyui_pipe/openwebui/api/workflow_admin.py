"""The admins' workflow routes beyond upload and delete: check a file before saving it,
list every workflow with what each server lacks, edit one, enable or disable one."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import HTTPException, Query, status

from comfyui_pipe.comfy import ComfyError
from comfyui_pipe.comfy.problems import Problem
from comfyui_pipe.errors import PipeError
from comfyui_pipe.openwebui.presenter import describe, describe_problem
from comfyui_pipe.openwebui.runtime import PluginRuntime, all_workflows
from comfyui_pipe.workflow import bundled_workflows, parse_workflow, validate_against
from comfyui_pipe.workflow.graph import Graph
from comfyui_pipe.workflow.limits import MAX_UPLOAD_BYTES, WorkflowTooLarge
from comfyui_pipe.workflow.model import ModelFile
from comfyui_pipe.workflow.ui_format import UIConversionError, is_ui_workflow, ui_to_api
from comfyui_pipe.workflow.ui_models import template_models

from .body_limit import body_limited
from .common import AdminUser, Runtime, error_responses, sub_router
from .model_schemas import ModelFileIn
from .queue import server_names
from .schemas import WorkflowOut
from .settings_changes import save_settings
from .workflow_admin_schemas import (
    EnabledIn,
    ServerProblemsOut,
    WorkflowAdminOut,
    WorkflowCheckIn,
    WorkflowCheckOut,
    WorkflowEdit,
)
from .workflows import only_models_missing, workflow_out

router = sub_router(body_limited(MAX_UPLOAD_BYTES))


@router.get(
    "/workflows/all",
    response_model=list[WorkflowAdminOut],
    summary="Every workflow, for admins",
    description="Bundled and uploaded, enabled or not, each with what every server lacks "
    "for it and the model files its metadata lists. `refresh=true` asks the servers "
    "again what they have (after installing models by hand).",
    responses=error_responses(422),
)
async def every_workflow(
    _admin: AdminUser,
    runtime: Runtime,
    refresh: Annotated[bool, Query(description="Ask the servers anew.")] = False,
) -> list[WorkflowAdminOut]:
    workflows = await all_workflows(runtime.workflow_store, bundled_workflows())
    bundled = set(bundled_workflows())
    enabled = runtime.config.enabled_workflow_ids
    infos = await _object_infos(runtime, refresh)
    listed = []
    for workflow in workflows.values():
        servers = _server_problems(workflow.graph, infos)
        lacking = _first_lacking(servers)
        missing = {workflow.id: lacking} if lacking else {}
        shown = workflow_out(
            workflow, workflow.id in bundled, runtime.config.default_workflow, missing
        )
        listed.append(
            WorkflowAdminOut(
                **shown.model_dump(),
                enabled=not enabled or workflow.id in enabled,
                servers=[_server_out(name, found) for name, found in servers.items()],
                models=[ModelFileIn(**_model_entry(m)) for m in workflow.meta.models],
            )
        )
    return listed


@router.post(
    "/workflows/check",
    response_model=WorkflowCheckOut,
    summary="Check a workflow file before saving it (admin)",
    description="Converts a UI-format (editor) workflow with a server's node schemas, reads "
    "its parameters, defaults, bounds and output kinds, lists the model files it names and "
    "what each server lacks for it. Stores nothing; every problem is a sentence. A body "
    f"over {MAX_UPLOAD_BYTES // 2**20} MiB answers 413.",
    responses=error_responses(400, 413, 422),
)
async def check_workflow(
    body: WorkflowCheckIn, _admin: AdminUser, runtime: Runtime
) -> WorkflowCheckOut:
    ui = is_ui_workflow(body.workflow)
    graph, problems = await _api_graph(runtime, body.workflow) if ui else (body.workflow, [])
    workflow = None
    if graph is not None:
        try:
            workflow = await asyncio.to_thread(parse_workflow, graph, body.id, {})
        except WorkflowTooLarge as error:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(error)) from None
        except (ValueError, KeyError, TypeError) as error:
            problems.append(str(error))
    if body.id in bundled_workflows():
        problems.append(f"'{body.id}' is a bundled workflow's id; save yours under another.")
    infos = await _object_infos(runtime, refresh=False)
    servers = _server_problems(workflow.graph, infos) if workflow is not None else {}
    default = runtime.config.default_workflow
    return WorkflowCheckOut(
        id=body.id,
        format="ui" if ui else "api",
        workflow=graph if workflow is not None else None,
        summary=workflow_out(workflow, False, default) if workflow is not None else None,
        models=[ModelFileIn(**m) for m in _valid_models(template_models(body.workflow))],
        problems=problems,
        servers=[_server_out(name, found) for name, found in servers.items()],
        saveable=not problems and _only_models_lacking(servers),
        exists=await runtime.workflow_store.stored(body.id) is not None,
    )


@router.patch(
    "/workflows/{workflow_id}",
    response_model=WorkflowOut,
    summary="Edit an uploaded workflow (admin)",
    description="Its title, description, defaults and bounds; what is not sent stays. "
    "Bundled workflows cannot be edited (409): upload a copy under another id.",
    responses=error_responses(400, 404, 409, 422),
)
async def edit_workflow(
    workflow_id: str, body: WorkflowEdit, admin: AdminUser, runtime: Runtime
) -> WorkflowOut:
    if workflow_id in bundled_workflows():
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"'{workflow_id}' is a bundled workflow; upload a copy under another id to edit it.",
        )
    stored = await runtime.workflow_store.stored(workflow_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"There is no workflow '{workflow_id}'.")
    graph, meta = stored
    meta = {**meta, **body.model_dump(exclude_none=True, mode="json")}
    try:
        workflow = await asyncio.to_thread(parse_workflow, graph, workflow_id, meta)
    except (ValueError, KeyError, TypeError) as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    await runtime.workflow_store.save(workflow_id, graph, meta, admin.id)
    await runtime.reload_workflows()
    return workflow_out(workflow, False, runtime.config.default_workflow)


@router.put(
    "/workflows/{workflow_id}/enabled",
    response_model=WorkflowOut,
    summary="Enable or disable a workflow (admin)",
    description="A disabled workflow is not offered as a chat model nor through the API "
    "(the `enabled_workflows` setting). Who may use an enabled one is its chat model's "
    "access in Open WebUI (Workspace → Models).",
    responses=error_responses(400, 404, 409, 422),
)
async def enable_workflow(
    workflow_id: str, body: EnabledIn, _admin: AdminUser, runtime: Runtime
) -> WorkflowOut:
    workflows = await all_workflows(runtime.workflow_store, bundled_workflows())
    if workflow_id not in workflows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"There is no workflow '{workflow_id}'.")
    enabled = set(runtime.config.enabled_workflow_ids or workflows)
    enabled = enabled | {workflow_id} if body.enabled else enabled - {workflow_id}
    ids = [known for known in workflows if known in enabled]
    await save_settings(
        runtime, {"enabled_workflows": "" if len(ids) == len(workflows) else ", ".join(ids)}
    )
    bundled = workflow_id in bundled_workflows()
    return workflow_out(workflows[workflow_id], bundled, runtime.config.default_workflow)


ObjectInfos = dict[str, Mapping[str, Any] | None]


async def _object_infos(runtime: PluginRuntime, refresh: bool) -> ObjectInfos:
    """Each server's node schemas by its name; None for one that does not answer."""
    pool, names = runtime.service.pool, server_names(runtime)
    infos: ObjectInfos = {}
    for url in pool.urls:
        try:
            infos[names.get(url, url)] = await pool.object_info(await pool.server(url), refresh)
        except ComfyError:
            infos[names.get(url, url)] = None
    return infos


def _server_problems(graph: Graph, infos: ObjectInfos) -> dict[str, list[Problem] | None]:
    return {
        name: None if info is None else validate_against(graph, info)
        for name, info in infos.items()
    }


def _server_out(name: str, problems: list[Problem] | None) -> ServerProblemsOut:
    return ServerProblemsOut(
        server=name,
        reachable=problems is not None,
        problems=[describe_problem(problem) for problem in problems or ()],
    )


def _first_lacking(servers: Mapping[str, list[Problem] | None]) -> list[Problem] | None:
    """What the first reachable server lacks, when no reachable server can run it."""
    found = [problems for problems in servers.values() if problems is not None]
    return found[0] if found and all(found) else None


def _only_models_lacking(servers: Mapping[str, list[Problem] | None]) -> bool:
    found = [problems for problems in servers.values() if problems is not None]
    return any(only_models_missing(problems) for problems in found)


async def _api_graph(
    runtime: PluginRuntime, ui: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        object_info = await runtime.service.object_info()
        return await asyncio.to_thread(ui_to_api, ui, object_info), []
    except WorkflowTooLarge as error:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(error)) from None
    except UIConversionError as error:
        return None, [str(error)]
    except PipeError as error:
        return None, [f"It cannot be converted now: {describe(error)}"]


def _model_entry(model: ModelFile) -> dict[str, Any]:
    entry = asdict(model)
    del entry["stage"]
    return entry


def _valid_models(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries that name a folder and a file the way the metadata must."""
    valid = []
    for entry in entries:
        try:
            ModelFileIn(**entry)
        except ValueError:
            continue
        valid.append(entry)
    return valid
