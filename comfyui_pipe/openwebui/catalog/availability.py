"""Which workflows cannot run anywhere, and why: a workflow whose nodes or models are
missing on every reachable ComfyUI server is listed with what is missing instead of
being offered as if it worked (e.g. while the fetcher is still downloading its model).

The chat's model list asks no server: it reads the node schemas the backend pool
has already fetched (fetching the missing ones in the background for the next
listing). A workflow is only refused when those schemas say it cannot run, and
then only after fetching them anew, in case the admin has just installed what
was missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from comfyui_pipe.comfy import ComfyError, Problem
from comfyui_pipe.generation.backends import BackendPool
from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.openwebui.presenter import describe_problems
from comfyui_pipe.workflow import Workflow, validate_against


class WorkflowUnavailable(RequestError):
    def __init__(self, workflow: Workflow, missing: list[Problem]) -> None:
        self.workflow_id = workflow.id
        self.missing = missing
        super().__init__(
            f"{workflow.title} cannot run on any ComfyUI server yet: {describe_problems(missing)}"
        )


async def reachable_object_infos(
    pool: BackendPool, refresh: bool = False
) -> list[Mapping[str, Any]]:
    """The node schemas of every backend that answers (cached by the pool; ``refresh``
    fetches them anew)."""
    infos: list[Mapping[str, Any]] = []
    for url in pool.urls:
        try:
            infos.append(await pool.object_info(await pool.server(url), refresh=refresh))
        except ComfyError:
            continue  # an unreachable server says nothing about the workflow
    return infos


def missing_everywhere(
    workflows: Iterable[Workflow], infos: list[Mapping[str, Any]]
) -> dict[str, list[Problem]]:
    """Workflow id → what the first server lacks, for each workflow that no server can
    run. With no server reachable nothing is known: none listed."""
    missing: dict[str, list[Problem]] = {}
    for workflow in workflows:
        problems = [validate_against(workflow.graph, info) for info in infos]
        if problems and all(problems):
            missing[workflow.id] = problems[0]
    return missing


class Availability:
    """Whether workflows can run, from the node schemas of a ``BackendPool``; owns the
    background fetches of the schemas not asked for yet (one per pool at a time)."""

    def __init__(self) -> None:
        self._warming: dict[int, asyncio.Task[Any]] = {}
        """Pool (by id; its task keeps it alive) → the fetch of its missing schemas."""

    def known_missing(
        self, workflows: Iterable[Workflow], pool: BackendPool
    ) -> dict[str, list[Problem]]:
        """:func:`missing_everywhere` on the schemas the pool already holds (no request);
        the backends not asked yet are asked in the background, for the next call."""
        cached = [pool.cached_object_info(url) for url in pool.urls]
        if None in cached:
            self._warm(pool)
        return missing_everywhere(workflows, [info for info in cached if info is not None])

    async def check_available(self, workflow: Workflow, pool: BackendPool) -> None:
        """Raise :class:`WorkflowUnavailable` when no server can run ``workflow``, as the
        freshly fetched schemas say (fetched only when the cached ones say so)."""
        if workflow.id not in self.known_missing([workflow], pool):
            return
        missing = missing_everywhere([workflow], await reachable_object_infos(pool, refresh=True))
        if workflow.id in missing:
            raise WorkflowUnavailable(workflow, missing[workflow.id])

    async def aclose(self) -> None:
        """Stop the fetches still under way."""
        tasks = list(self._warming.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _warm(self, pool: BackendPool) -> None:
        key = id(pool)
        if key not in self._warming:
            task = asyncio.get_running_loop().create_task(reachable_object_infos(pool))
            self._warming[key] = task
            task.add_done_callback(lambda _: self._warming.pop(key, None))
