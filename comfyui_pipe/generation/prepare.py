"""From parameters to a prompt on ComfyUI: applied, validated against the server's
nodes and models (a server without node schemas, a Comfy API v2 one, checks it itself
when it is submitted), queued."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from comfyui_pipe.comfy import Backend, FollowedJob, JobListener, PromptRejected
from comfyui_pipe.workflow import (
    GenerationParams,
    PreparedPrompt,
    Workflow,
    apply_parameters,
    check_against,
)

from .backends import BackendPool
from .errors import RequestError


def apply(
    workflow: Workflow, params: GenerationParams, object_info: Mapping[str, Any] | None
) -> PreparedPrompt:
    """``apply_parameters``, with a value it refuses raised as a :class:`RequestError`."""
    try:
        return apply_parameters(workflow, params, object_info=object_info)
    except ValueError as error:
        raise RequestError(str(error)) from None


_Checked = TypeVar("_Checked")


async def _against_server(
    pool: BackendPool,
    server: Backend,
    check: Callable[[Mapping[str, Any] | None], _Checked],
) -> _Checked:
    """``check`` the server's nodes and models (None: it has no schemas to check
    against); a ``PromptRejected`` refreshes the cached list once and checks again, in
    case the admin just installed what was missing."""
    try:
        return check(await pool.object_info(server))
    except PromptRejected:
        return check(await pool.object_info(server, refresh=True))


async def prepare(
    pool: BackendPool, server: Backend, workflow: Workflow, params: GenerationParams
) -> PreparedPrompt:
    """Apply ``params`` and validate the result against the server."""
    return await _against_server(pool, server, lambda info: _checked(workflow, params, info))


async def check_workflow(pool: BackendPool, server: Backend, workflow: Workflow) -> None:
    """Validate ``workflow`` as it stands against the server."""

    def check(object_info: Mapping[str, Any] | None) -> None:
        if object_info is not None:
            check_against(workflow.graph, object_info)

    await _against_server(pool, server, check)


def _checked(
    workflow: Workflow, params: GenerationParams, object_info: Mapping[str, Any] | None
) -> PreparedPrompt:
    prepared = apply(workflow, params, object_info)
    if object_info is not None:
        check_against(prepared.graph, object_info)
    return prepared


async def submit(
    server: Backend,
    graph: Mapping[str, Any],
    prompt_id: str | None = None,
    listener: JobListener | None = None,
) -> FollowedJob:
    """Queue ``graph`` (as ``prompt_id`` when given), its events to ``listener``; if the
    caller is cancelled meanwhile, the prompt that may have reached ComfyUI is cancelled
    there before the cancellation goes on."""
    submitting = asyncio.ensure_future(server.submit(graph, prompt_id=prompt_id, listener=listener))
    try:
        return await asyncio.shield(submitting)
    except asyncio.CancelledError:
        done, _ = await asyncio.wait([submitting], timeout=server.timeouts.connect)
        if submitting in done and not submitting.cancelled() and not submitting.exception():
            await submitting.result().cancel()
        else:
            submitting.cancel()
        raise


def generation_metadata(workflow: Workflow, prepared: PreparedPrompt) -> dict[str, Any]:
    """The effective parameters (the seed actually used included), for records and files."""
    applied = prepared.applied
    values = {
        "workflow": workflow.id,
        "title": workflow.title,
        "model": applied.get("checkpoint"),
        "seed": applied.get("seed"),
        "steps": applied.get("steps"),
        "cfg": applied.get("cfg"),
        "sampler": applied.get("sampler"),
        "scheduler": applied.get("scheduler"),
        "denoise": applied.get("denoise"),
        "width": applied.get("width"),
        "height": applied.get("height"),
        "count": applied.get("batch_size", 1),
        "loras": [
            {"name": name, "strength": strength} for name, strength, _ in applied.get("loras", [])
        ],
        "prompt": applied.get("prompt"),
        "negative_prompt": applied.get("negative_prompt"),
    }
    return {key: value for key, value in values.items() if value is not None}
