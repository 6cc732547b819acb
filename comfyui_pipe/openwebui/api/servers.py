"""The ComfyUI servers (admins): each one's state and our jobs on it; add, remove and drain
one without a restart.

The server list and the drained ones are settings (``comfyui_url``, ``drained_servers``):
a change is stored and applied like any other save, so every process applies it within
the settings' refresh (about two seconds). Removing a server builds a new backend pool;
the jobs running on the removed server finish on the old one, which closes after them.
A drained server stays in the pool: it is offered no new job, and finishes its own.
"""

from __future__ import annotations

import hashlib

from fastapi import HTTPException, status

from comfyui_pipe.config import text
from comfyui_pipe.generation.backends import BackendHealth
from comfyui_pipe.openwebui.runtime import PluginRuntime

from .common import AdminUser, Runtime, error_responses, sub_router
from .queue import queue_items, server_names
from .queue_schemas import DrainIn, ServerIn, ServerJobOut, ServerOut, ServersOut
from .settings_changes import save_settings

router = sub_router()


def server_id(url: str) -> str:
    """A short id for a server, stable while its URL is."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


@router.get(
    "/servers",
    response_model=ServersOut,
    summary="List the ComfyUI servers (admin)",
    description="Each server in the order configured: reachable, version, ComfyUI's queue, "
    "devices with their memory, whether it is drained, where its models are written, and "
    "the plugin's jobs on it now.",
    responses=error_responses(),
)
async def list_servers(_admin: AdminUser, runtime: Runtime) -> ServersOut:
    return ServersOut(servers=await servers_out(runtime))


@router.post(
    "/servers",
    status_code=status.HTTP_201_CREATED,
    response_model=ServerOut,
    summary="Add a ComfyUI server (admin)",
    description="Adds the server to the list (the `comfyui_url` setting); it takes jobs at "
    "once, in every process within seconds, without a restart.",
    responses=error_responses(400, 409, 422),
)
async def add_server(body: ServerIn, _admin: AdminUser, runtime: Runtime) -> ServerOut:
    try:
        (url,) = text.server_urls(body.url.strip())
    except ValueError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{error}.") from None
    urls = runtime.config.servers.urls
    if url in urls:
        raise HTTPException(status.HTTP_409_CONFLICT, "That server is on the list already.")
    await save_settings(runtime, {"comfyui_url": ", ".join([*urls, url])})
    return await _one(runtime, url)


@router.delete(
    "/servers/{server_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a ComfyUI server (admin)",
    description="Takes the server off the list. The jobs running on it finish there; those "
    "waiting go to the other servers. The last server, or the last that takes new jobs, "
    "cannot be removed (409).",
    responses=error_responses(404, 409, 422),
)
async def remove_server(server_id: str, _admin: AdminUser, runtime: Runtime) -> None:
    url = url_of(runtime, server_id)
    config = runtime.config
    others = [other for other in config.servers.urls if other != url]
    if not others:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "This is the only server; add another before removing it."
        )
    drained = [other for other in config.drained if other != url]
    await save_settings(
        runtime, {"comfyui_url": ", ".join(others), "drained_servers": ", ".join(drained)}
    )


@router.put(
    "/servers/{server_id}/drain",
    response_model=ServerOut,
    summary="Drain a ComfyUI server, or open it again (admin)",
    description="A drained server takes no new jobs and finishes those it has. At least one "
    "server must take new jobs (409).",
    responses=error_responses(400, 404, 409, 422),
)
async def drain_server(
    server_id: str, body: DrainIn, _admin: AdminUser, runtime: Runtime
) -> ServerOut:
    url = url_of(runtime, server_id)
    config = runtime.config
    drained = (config.drained | {url}) if body.drained else (config.drained - {url})
    ordered = [other for other in config.servers.urls if other in drained]
    await save_settings(runtime, {"drained_servers": ", ".join(ordered)})
    return await _one(runtime, url)


async def servers_out(runtime: PluginRuntime) -> list[ServerOut]:
    config = runtime.config
    healths = {health.url: health for health in await runtime.service.health()}
    jobs = await queue_items(runtime, None)
    names = server_names(runtime)
    return [
        _server_out(
            url,
            names[url],
            healths.get(url, BackendHealth(url, reachable=False)),
            drained=url in config.drained,
            folder=config.model_folder_of.get(url),
            jobs=[
                ServerJobOut(
                    id=job.id,
                    owner_name=job.owner_name,
                    workflow=job.workflow,
                    state=job.state,
                    activity=job.activity,
                    percent=job.percent,
                )
                for job in jobs
                if job.server == names[url]
            ],
        )
        for url in config.servers.urls
    ]


def _server_out(
    url: str,
    name: str,
    health: BackendHealth,
    *,
    drained: bool,
    folder: str | None,
    jobs: list[ServerJobOut],
) -> ServerOut:
    return ServerOut(
        id=server_id(url),
        name=name,
        url=url,
        reachable=health.reachable,
        drained=drained,
        version=health.version,
        queue_running=health.queue_running,
        queue_pending=health.queue_pending,
        devices=health.devices,
        error=str(health.error) if health.error is not None else None,
        models_folder=folder,
        jobs=jobs,
    )


async def _one(runtime: PluginRuntime, url: str) -> ServerOut:
    return next(server for server in await servers_out(runtime) if server.url == url)


def url_of(runtime: PluginRuntime, wanted: str) -> str:
    """The configured server of id ``wanted``; 404 for any other."""
    for url in runtime.config.servers.urls:
        if server_id(url) == wanted:
            return url
    raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no such ComfyUI server.")
