"""What each server has and what the workflows need there: ComfyUI's own lists of its
model folders, the sizes on disk where this Open WebUI writes them, and each workflow's
model files — those its metadata lists (with where to download them) and those its graph
names that the server lacks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from comfyui_pipe.comfy import ComfyError
from comfyui_pipe.comfy.model_lists import LOADER_INPUTS
from comfyui_pipe.comfy.problems import ProblemKind
from comfyui_pipe.openwebui.model_files.folders import FolderContents, ModelsFolder
from comfyui_pipe.openwebui.runtime import PluginRuntime, all_workflows
from comfyui_pipe.workflow import Workflow, bundled_workflows, validate_against

from .download_schemas import FolderOut, ModelServerOut, NeedOut, StoredFileOut
from .queue import server_names
from .servers import server_id

FOLDER_OF_INPUT = {loader: folder for folder, loader in LOADER_INPUTS.items()}
"""(loader node class, input) -> the model folder it lists."""


async def model_servers(runtime: PluginRuntime) -> list[ModelServerOut]:
    workflows = list((await all_workflows(runtime.workflow_store, bundled_workflows())).values())
    names = server_names(runtime)
    return list(
        await asyncio.gather(*(_model_server(runtime, url, names[url], workflows) for url in names))
    )


async def _model_server(
    runtime: PluginRuntime, url: str, name: str, workflows: list[Workflow]
) -> ModelServerOut:
    root = runtime.config.model_folder_of.get(url)
    disk = ModelsFolder(Path(root)) if root is not None else None
    writable = disk is not None and await asyncio.to_thread(disk.writable)
    shown = ModelServerOut(
        id=server_id(url), name=name, url=url, reachable=False, models_folder=root
    )
    on_disk = await asyncio.to_thread(disk.contents) if disk is not None and writable else []
    try:
        listed, info = await _comfy_lists(runtime, url)
    except ComfyError as error:
        return shown.model_copy(update={"error": str(error), "writable": writable})
    return shown.model_copy(
        update={
            "reachable": True,
            "writable": writable,
            "free_bytes": await asyncio.to_thread(disk.free_bytes) if disk and writable else None,
            "folders": _folders(listed, on_disk),
            "needs": _needs(workflows, listed, info),
        }
    )


async def _comfy_lists(
    runtime: PluginRuntime, url: str
) -> tuple[dict[str, list[str]], Mapping[str, Any]]:
    pool = runtime.service.pool
    server = await pool.server(url)
    folders = await server.model_folders()
    files = await asyncio.gather(*(server.models(folder) for folder in folders))
    return dict(zip(folders, files, strict=True)), await pool.object_info(server) or {}


def _folders(listed: Mapping[str, list[str]], on_disk: list[FolderContents]) -> list[FolderOut]:
    """ComfyUI's folders, with the sizes found on disk (and what downloads left there)."""
    disk = {folder.name: folder for folder in on_disk}
    shown = []
    for name in sorted(set(listed) | set(disk)):
        stored = {file.name: file for file in disk[name].files} if name in disk else {}
        files = [
            StoredFileOut(name=file, size=stored[file].size if file in stored else None)
            for file in listed.get(name, [])
        ]
        files += [
            StoredFileOut(name=file.name, size=file.size, partial=True)
            for file in stored.values()
            if file.partial
        ]
        shown.append(
            FolderOut(name=name, files=files, size=disk[name].size if name in disk else None)
        )
    return shown


def _needs(
    workflows: Iterable[Workflow], listed: Mapping[str, list[str]], info: Mapping[str, Any]
) -> list[NeedOut]:
    needs = []
    for workflow in workflows:
        named = set()
        for model in workflow.meta.models:
            named.add(model.filename)
            needs.append(
                NeedOut(
                    workflow=workflow.id,
                    workflow_title=workflow.title,
                    folder=model.folder,
                    filename=model.filename,
                    url=model.url,
                    size_bytes=model.size_bytes,
                    sha256=model.sha256,
                    present=model.filename in listed.get(model.folder, []),
                )
            )
        for problem in validate_against(workflow.graph, info):
            if problem.kind is not ProblemKind.MODEL_NOT_INSTALLED or str(problem.value) in named:
                continue
            named.add(str(problem.value))
            loader = (problem.node.type if problem.node else "", problem.input or "")
            needs.append(
                NeedOut(
                    workflow=workflow.id,
                    workflow_title=workflow.title,
                    folder=FOLDER_OF_INPUT.get(loader),
                    filename=str(problem.value),
                    present=False,
                )
            )
    return needs
