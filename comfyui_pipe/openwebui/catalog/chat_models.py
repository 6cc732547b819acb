"""The chat models of the workflows, and making them visible to users.

Open WebUI 0.12 shows a model to non-admins only when a Models row grants them
read access; a pipe's models have none until an admin configures them. For
each workflow model without a row we create one that everyone may read, owned
by an admin (Open WebUI's model history needs an owner). Rows that exist are
the admin's and stay as they are. Until the first admin signs up there is no
one to own them and no user to show them to, so publishing waits for one; our app
publishes them before it serves any request once that admin exists (see
``app_middleware``), so no user ever meets a model they may not use yet.

A workflow that cannot run on any server is shown as such in the model list: its
row's name ends in "(models missing)" and its description says what is missing,
for as long as the row still has the name and description we gave it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

from comfyui_pipe.comfy import Problem
from comfyui_pipe.openwebui.catalog.access import workflow_model_id
from comfyui_pipe.openwebui.function_source import ACTIONS
from comfyui_pipe.openwebui.host import ModelRow, OpenWebUIHost
from comfyui_pipe.openwebui.presenter import describe_problem
from comfyui_pipe.workflow import Workflow

log = logging.getLogger(__name__)

MODEL_NAME_PREFIX = "ComfyUI · "
PUBLIC_READ: Mapping[str, str] = {
    "principal_type": "user",
    "principal_id": "*",
    "permission": "read",
}
MISSING_SUFFIX = " (models missing)"
MISSING_DESCRIPTION = "Cannot run on any ComfyUI server yet: "
ADMIN_POLL_INTERVAL = 0.5
"""Seconds between looks for the first admin while there is none."""


def model_id(workflow: Workflow) -> str:
    return workflow_model_id(workflow.id)


def model_name(workflow: Workflow, missing: bool = False) -> str:
    return MODEL_NAME_PREFIX + workflow.title + (MISSING_SUFFIX if missing else "")


class ModelPublisher:
    """Creates the missing rows when the workflows change (``publish``) and names them by
    whether their workflow can run (``show_availability``); remembers what it has done
    so repeat calls cost nothing. Rows wait for the first admin when there is
    none: ``publish_waiting`` creates them once one exists (our app's middleware calls it
    before serving each request while ``waiting``); with an ``admin_poll_interval``, a
    task also looks for that admin every so often (a stock Open WebUI, which has no such
    middleware). ``aclose`` stops that task."""

    def __init__(
        self, host: OpenWebUIHost, admin_poll_interval: float | None = ADMIN_POLL_INTERVAL
    ) -> None:
        self._host = host
        self._published: set[str] = set()
        self._shown_missing: dict[str, tuple[str, ...]] = {}
        """What this process last wrote into each row: workflow id → what is missing."""
        self._admin_poll_interval = admin_poll_interval
        self._waiting: tuple[Workflow, ...] = ()
        self._waiter: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def waiting(self) -> bool:
        """Whether some rows wait for the first admin."""
        return bool(self._waiting)

    async def publish(self, workflows: Iterable[Workflow]) -> list[str]:
        """Returns the ids of the rows created; with no admin yet, none (see ``waiting``)."""
        async with self._lock:
            pending = tuple(w for w in workflows if model_id(w) not in self._published)
            if not pending:
                self._waiting = ()
                return []
            owner = await self._host.users.first_admin()
            if owner is None:
                self._waiting = pending
                self._poll_for_admin()
                return []
            created = []
            for workflow in pending:
                if await self._insert_if_missing(workflow, owner.id):
                    created.append(model_id(workflow))
                self._published.add(model_id(workflow))
            self._waiting = ()
            return created

    async def show_availability(
        self, workflows: Iterable[Workflow], missing: Mapping[str, list[Problem]]
    ) -> None:
        """Name and describe each workflow's row by whether it can run (a write only when
        that changed since this process last looked)."""
        for workflow in workflows:
            problems = tuple(describe_problem(p) for p in missing.get(workflow.id, ()))
            if self._shown_missing.get(workflow.id) != problems and await self._describe(
                workflow, problems
            ):
                self._shown_missing[workflow.id] = problems

    async def _describe(self, workflow: Workflow, problems: tuple[str, ...]) -> bool:
        """Write ``problems`` into the workflow's row, leaving what an admin changed; False
        when there is no row yet."""
        models = self._host.models
        row = await models.get(model_id(workflow))
        if row is None:
            return False
        name, description = row.name, row.description
        if name in (model_name(workflow), model_name(workflow, missing=True)):
            name = model_name(workflow, missing=bool(problems))
        ours = (None, "", workflow.meta.description)
        if description in ours or str(description).startswith(MISSING_DESCRIPTION):
            fallback = workflow.meta.description or None
            description = MISSING_DESCRIPTION + " ".join(problems) if problems else fallback
        if (name, description) != (row.name, row.description):
            await models.retitle(row.id, name, description)
        return True

    async def publish_waiting(self) -> list[str]:
        """Create the rows that wait for the first admin, if one exists now."""
        return await self.publish(self._waiting) if self._waiting else []

    async def aclose(self) -> None:
        if self._waiter is not None:
            self._waiter.cancel()
            await asyncio.gather(self._waiter, return_exceptions=True)

    def _poll_for_admin(self) -> None:
        if self._admin_poll_interval is None:
            return
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.create_task(self._publish_once_admin_exists())

    async def _publish_once_admin_exists(self) -> None:
        assert self._admin_poll_interval is not None
        # Open WebUI announces no signup in-process: look until the first admin is there.
        while True:
            if await self._host.users.first_admin() is not None:
                break
            await asyncio.sleep(self._admin_poll_interval)
        try:
            await self.publish_waiting()
        except Exception:
            log.exception("Publishing the ComfyUI models failed")

    async def _insert_if_missing(self, workflow: Workflow, owner_id: str) -> bool:
        if await self._host.models.get(model_id(workflow)) is not None:
            return False
        row = ModelRow(
            model_id(workflow), model_name(workflow), workflow.meta.description or None, True
        )
        meta = {
            # vision lets users attach images in the chat input
            "capabilities": {"vision": workflow.image_inputs > 0, "citations": False},
            # the Upscale / Variations / … buttons under its results (the admin may remove them)
            "actionIds": [ACTIONS.id],
        }
        # False: another worker created the row between the look and the insert
        return await self._host.models.create(row, owner_id, meta, [PUBLIC_READ])
