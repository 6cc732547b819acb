"""Which workflows cannot run anywhere, and why: a workflow whose nodes or models are
missing on every reachable ComfyUI server is listed with what is missing instead of
being offered as if it worked (e.g. while the fetcher is still downloading its model)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from comfyui_pipe.comfy import ComfyError
from comfyui_pipe.generation.backends import BackendPool
from comfyui_pipe.workflow import Workflow, validate_against


async def reachable_object_infos(pool: BackendPool) -> list[Mapping[str, Any]]:
    """The node schemas of every backend that answers (cached by the pool)."""
    infos: list[Mapping[str, Any]] = []
    for url in pool.urls:
        try:
            infos.append(await pool.object_info(await pool.server(url)))
        except ComfyError:
            continue  # an unreachable server says nothing about the workflow
    return infos


def missing_everywhere(
    workflows: Iterable[Workflow], infos: list[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """Workflow id → the sentences of what the first server lacks, for each workflow
    that no server can run. With no server reachable nothing is known: none listed."""
    missing: dict[str, list[str]] = {}
    for workflow in workflows:
        problems = [validate_against(workflow.graph, info) for info in infos]
        if problems and all(problems):
            missing[workflow.id] = problems[0]
    return missing
