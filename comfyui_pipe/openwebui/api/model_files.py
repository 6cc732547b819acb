"""Model files per server (admins): what each folder holds and what each workflow needs
there; downloads into a server's models folder, and removals."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi import HTTPException, status

from comfyui_pipe.comfy import ComfyError
from comfyui_pipe.openwebui.model_files.downloads_table import Download, DownloadState
from comfyui_pipe.openwebui.model_files.folders import ModelsFolder, OutsideFolder
from comfyui_pipe.openwebui.model_files.names import filename_problem, folder_problem
from comfyui_pipe.openwebui.model_files.planning import DownloadRefused, Target, plan_download
from comfyui_pipe.openwebui.runtime import PluginRuntime
from comfyui_pipe.workflow.model import ModelFile

from .common import AdminUser, Runtime, error_responses, sub_router
from .download_schemas import (
    DownloadOut,
    DownloadsOut,
    DownloadStateOut,
    ModelDownloadIn,
    ModelServersOut,
)
from .model_inventory import model_servers
from .queue import REMOVED_SERVER, server_names
from .servers import server_id, url_of

router = sub_router()

RECENT_DOWNLOADS = 50


@router.get(
    "/models/servers",
    response_model=ModelServersOut,
    summary="Model files per server (admin)",
    description="For each server: its model folders and files (with sizes and the free disk "
    "where this Open WebUI writes its models), and the model files each workflow needs "
    "there, present or not, with where to download them.",
    responses=error_responses(),
)
async def models_per_server(_admin: AdminUser, runtime: Runtime) -> ModelServersOut:
    return ModelServersOut(servers=await model_servers(runtime))


@router.post(
    "/models/downloads",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DownloadOut,
    summary="Download a model file onto a server (admin)",
    description="Starts downloading `url` into the server's `folder` as `filename`, where "
    "this Open WebUI writes that server's models (the `model_folders` setting): resumed "
    "where an earlier try stopped, checked against `size_bytes` and `sha256` when given, "
    "put in place only when whole. Refused before anything is written when the folder is "
    "not ComfyUI's (422), the file is there or being downloaded (409), the address does "
    "not answer (422) or the disk has no room for it (507). Follow it with GET "
    "/models/downloads; once done, the workflows it completes are offered at once.",
    responses=error_responses(400, 404, 409, 422, 507),
)
async def start_download(body: ModelDownloadIn, admin: AdminUser, runtime: Runtime) -> DownloadOut:
    url = url_of(runtime, body.server)
    model = ModelFile(body.folder, body.filename, body.url, body.size_bytes, body.sha256)
    target = Target(
        server=url,
        server_name=server_names(runtime)[url],
        root=runtime.config.model_folder_of.get(url),
        comfy_folders=await _comfy_folders(runtime, url),
        running=bool(await runtime.downloads.store.running(url, body.folder, body.filename)),
    )
    try:
        plan = await plan_download(target, model)
    except DownloadRefused as refusal:
        raise HTTPException(refusal.status, str(refusal)) from None
    download = await runtime.downloads.start(plan, admin.id)
    return download_out(runtime, download, live=True)


@router.get(
    "/models/downloads",
    response_model=DownloadsOut,
    summary="The latest model downloads (admin)",
    description=f"The {RECENT_DOWNLOADS} latest downloads, newest first, with their progress.",
    responses=error_responses(),
)
async def list_downloads(_admin: AdminUser, runtime: Runtime) -> DownloadsOut:
    live = await _live_workers(runtime)
    downloads = await runtime.downloads.store.recent(RECENT_DOWNLOADS)
    return DownloadsOut(items=[download_out(runtime, d, d.worker_id in live) for d in downloads])


@router.post(
    "/models/downloads/{download_id}/cancel",
    response_model=DownloadOut,
    summary="Cancel a model download (admin)",
    description="Stops it at its next chunk; what arrived stays, so starting it again "
    "resumes. A download that ended stays as it was.",
    responses=error_responses(404, 422),
)
async def cancel_download(download_id: str, _admin: AdminUser, runtime: Runtime) -> DownloadOut:
    download = await runtime.downloads.store.get(download_id)
    if download is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no such download.")
    if download.state is DownloadState.RUNNING:
        download = await runtime.downloads.cancel(download)
    return download_out(runtime, download, download.worker_id in await _live_workers(runtime))


@router.delete(
    "/models/files/{server_id}/{folder}/{filename:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a model file from a server (admin)",
    description="Deletes the file (or what an unfinished download of it left) from the "
    "server's models folder, where this Open WebUI writes it.",
    responses=error_responses(400, 404, 409, 422),
)
async def remove_model(
    server_id: str, folder: str, filename: str, _admin: AdminUser, runtime: Runtime
) -> None:
    url = url_of(runtime, server_id)
    problem = folder_problem(folder) or filename_problem(filename)
    if problem is not None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, problem)
    root = runtime.config.model_folder_of.get(url)
    if root is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"This Open WebUI cannot write the models of {server_names(runtime)[url]}; "
            f"remove {folder}/{filename} there yourself.",
        )
    if await runtime.downloads.store.running(url, folder, filename):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{folder}/{filename} is being downloaded; cancel it first."
        )
    try:
        removed = await asyncio.to_thread(ModelsFolder(Path(root)).remove, folder, filename)
    except OutsideFolder as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    if not removed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"There is no {folder}/{filename} there.")
    pool = runtime.service.pool
    if url in pool.urls:
        await pool.object_info(await pool.server(url), refresh=True)


def download_out(runtime: PluginRuntime, download: Download, live: bool) -> DownloadOut:
    state: DownloadStateOut = download.state.value
    if download.state is DownloadState.RUNNING and not live:
        state = "interrupted"
    size = download.size
    return DownloadOut(
        id=download.id,
        server=server_names(runtime).get(download.server, REMOVED_SERVER),
        server_id=server_id(download.server),
        folder=download.folder,
        filename=download.filename,
        url=download.url,
        sha256=download.sha256,
        size=size,
        received=download.received,
        percent=round(100 * download.received / size, 1) if size else None,
        state=state,
        error=download.error,
        created_at=datetime.fromtimestamp(download.created_at, UTC),
        finished_at=(
            datetime.fromtimestamp(download.finished_at, UTC) if download.finished_at else None
        ),
    )


async def _comfy_folders(runtime: PluginRuntime, url: str) -> list[str]:
    """The model folders ComfyUI on ``url`` has (none when it does not answer)."""
    try:
        server = await runtime.service.pool.server(url)
        return await server.model_folders()
    except ComfyError:  # an unreachable server has no folder to download into
        return []


async def _live_workers(runtime: PluginRuntime) -> set[str]:
    since = time.time() - runtime.config.leases.expiry
    return await runtime.jobs.live_workers(since) | {runtime.service.worker_id}
