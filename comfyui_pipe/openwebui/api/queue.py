"""The queue: the jobs that have not ended, oldest first, with where each stands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import HTTPException, Query, status

from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.openwebui.runtime import PluginRuntime
from comfyui_pipe.openwebui.store.queue_reads import unfinished_records

from .common import Runtime, VerifiedUser, error_responses, sub_router
from .queue_schemas import QueueItemOut, QueueOut

router = sub_router()

REMOVED_SERVER = "a removed server"


@router.get(
    "/queue",
    response_model=QueueOut,
    summary="The queue",
    description="Your jobs that have not ended, oldest first: waiting in the plugin's "
    "queue (with their place in line among everyone's) or on a ComfyUI server (which one, "
    "and their stage). Admins may pass `all=true` for everyone's, with their owners' names. "
    "Cancel one with POST /jobs/{id}/cancel.",
    responses=error_responses(422),
)
async def queue(
    user: VerifiedUser,
    runtime: Runtime,
    everyone: Annotated[
        bool, Query(alias="all", description="Everyone's jobs (admins only).")
    ] = False,
) -> QueueOut:
    if everyone and user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only administrators may see every job.")
    items = await queue_items(runtime, None if everyone else user.id)
    return QueueOut(items=items)


async def queue_items(runtime: PluginRuntime, owner_id: str | None) -> list[QueueItemOut]:
    """The unfinished jobs (``owner_id``'s only, when given), oldest first; owners' names
    only when everyone's are asked for (an admin)."""
    records = [
        runtime.service.live(r.id) or r for r in await unfinished_records(runtime.host.engine)
    ]
    places = _places(records)
    shown = [r for r in records if owner_id is None or r.owner_id == owner_id]
    names = await runtime.host.users.names([r.owner_id for r in shown]) if owner_id is None else {}
    servers = server_names(runtime)
    return [
        QueueItemOut(
            id=record.id,
            owner_id=record.owner_id,
            owner_name=names.get(record.owner_id),
            workflow=record.workflow_id,
            state=record.state.value,
            stage=_stage(record),
            activity=(record.progress or {}).get("phase"),
            percent=float((record.progress or {}).get("percent") or 0.0),
            place=places.get(record.id),
            server=servers.get(record.backend, REMOVED_SERVER) if record.backend else None,
            prompt=record.params.get("prompt"),
            created_at=datetime.fromtimestamp(record.created_at, UTC),
        )
        for record in shown
    ]


def server_names(runtime: PluginRuntime) -> dict[str, str]:
    """Each configured server's name in the console: 'server 1', 'server 2', …"""
    return {url: f"server {n}" for n, url in enumerate(runtime.config.servers.urls, start=1)}


def _stage(record: JobRecord) -> str | None:
    stage = (record.progress or {}).get("stage")
    return str(stage) if stage else None if record.dispatched else "waiting"


def _places(records: list[JobRecord]) -> dict[str, int]:
    """Each waiting job's place in line: the dispatcher's, for the jobs this process
    follows (users take turns); by age for the others, after those."""
    waiting = [record for record in records if not record.dispatched]
    known = {
        record.id: int(position)
        for record in waiting
        if (position := (record.progress or {}).get("queue_position"))
    }
    rest = [record.id for record in waiting if record.id not in known]
    start = max(known.values(), default=0)
    return {**known, **{job_id: start + n for n, job_id in enumerate(rest, start=1)}}
