"""The plugin's per-process state, kept on ``app.state.comfyui_pipe``.

``get_runtime(app)`` creates it on first use, so the Pipe works in a stock
Open WebUI too (then the Pipe is the first caller), and brings it up to date
with the admin's valves on every call: the valves live in the database (the
function's valves, the same store Open WebUI's admin form writes), so a
change made by any worker process is picked up by all of them. Whenever the
offered workflows change, their chat models are published (see ``model_access``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from open_webui.internal.db import async_engine
from open_webui.models.functions import Functions
from sqlalchemy.ext.asyncio import AsyncEngine

from comfyui_pipe.generation.backends import BackendPool
from comfyui_pipe.generation.policy import Policy
from comfyui_pipe.generation.service import GenerationService
from comfyui_pipe.openwebui.adopted_jobs import AdoptedJobDelivery
from comfyui_pipe.openwebui.files import OpenWebUIFileSink
from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from comfyui_pipe.openwebui.jobs_table import SqlJobStore, create_job_table
from comfyui_pipe.openwebui.model_access import ModelPublisher
from comfyui_pipe.openwebui.queue_weights import GroupWeights
from comfyui_pipe.openwebui.valves import Valves
from comfyui_pipe.openwebui.workflow_store import SqlWorkflowStore, create_workflow_table
from comfyui_pipe.workflow import Workflow, bundled_workflows

STATE_NAME = "comfyui_pipe"


@dataclass(frozen=True)
class BackendConfig:
    """The valves a backend pool is built from; a change means a new pool."""

    urls: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    token: str | None

    @classmethod
    def of(cls, valves: Valves) -> BackendConfig:
        return cls(
            urls=tuple(valves.backend_urls()),
            headers=tuple(sorted(valves.auth_headers().items())),
            token=valves.comfyui_token or None,
        )

    def build_pool(self) -> BackendPool:
        return BackendPool(
            list(self.urls),
            headers=dict(self.headers),
            token=self.token,
        )


def policy_of(valves: Valves) -> Policy:
    return Policy(
        limits=valves.limits(),
        jobs_per_user=valves.jobs_per_user,
        job_timeout=valves.job_timeout,
        previews=valves.previews,
        server_depth=valves.server_queue_depth,
        cancel_on_shutdown=valves.cancel_on_shutdown,
        progress_save_every=valves.progress_save_seconds,
    )


class PluginRuntime:
    """The generation service with its backends, job store, file sink and workflows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.jobs = SqlJobStore(engine)
        self.sink = OpenWebUIFileSink()
        self.workflow_store = SqlWorkflowStore(engine)
        self._bundled = bundled_workflows()
        self._lock = asyncio.Lock()
        self._backend_config: BackendConfig | None = None
        self._applied: Valves | None = None
        self._pool: BackendPool | None = None
        self._service: GenerationService | None = None
        self._models = ModelPublisher()
        self._delivery = AdoptedJobDelivery()
        self._weights = GroupWeights()

    @property
    def service(self) -> GenerationService:
        if self._service is None:
            raise RuntimeError("The plugin runtime has not been started (use get_runtime).")
        return self._service

    async def valves(self) -> Valves:
        """The admin's current settings; environment defaults for what was never saved."""
        return Valves(**(await Functions.get_function_valves_by_id(FUNCTION_ID) or {}))

    async def update_valves(self, values: dict[str, Any]) -> Valves:
        """Validate and store new settings (where the admin form stores them), then apply."""
        valves = Valves(**values)
        if await Functions.update_function_valves_by_id(FUNCTION_ID, valves.model_dump()) is None:
            raise LookupError(f"The '{FUNCTION_ID}' function is not installed.")
        await self.refresh()
        return valves

    async def workflows(self) -> dict[str, Workflow]:
        """The workflows offered: bundled and uploaded ones, narrowed to the enabled ids."""
        return enabled_workflows(await self._all_workflows(), await self.valves())

    async def reload_workflows(self) -> None:
        """Apply an uploaded or deleted workflow."""
        async with self._lock:
            valves = await self.valves()
            workflows = enabled_workflows(await self._all_workflows(), valves)
            if self._service is not None:
                self._service.reconfigure(workflows=workflows)
            await self._models.publish(workflows.values())

    async def refresh(self) -> None:
        """Bring the service up to date with the stored valves (a no-op when unchanged)."""
        async with self._lock:
            if self._applied is None:
                await create_job_table(self._engine)
                await create_workflow_table(self._engine)
            valves = await self.valves()
            if valves == self._applied:
                return
            backend_config = BackendConfig.of(valves)
            if backend_config != self._backend_config:
                # The service owns its pools and closes a replaced one after its last job.
                self._pool = backend_config.build_pool()
                self._backend_config = backend_config
            assert self._pool is not None
            workflows = enabled_workflows(await self._all_workflows(), valves)
            self._weights.configure(valves.group_weights())
            if self._service is None:
                self._service = GenerationService(
                    self._pool,
                    workflows,
                    self.jobs,
                    self.sink,
                    policy_of(valves),
                    leases=self.jobs,
                    lease_times=valves.lease_times(),
                    delivery=self._delivery,
                    weights=self._weights,
                )
                # Adopts the unfinished jobs of processes that stopped (this one's
                # predecessor after a restart included).
                self._service.open()
            else:
                self._service.reconfigure(
                    pool=self._pool,
                    workflows=workflows,
                    policy=policy_of(valves),
                    lease_times=valves.lease_times(),
                )
            await self._models.publish(workflows.values())
            self._applied = valves

    async def aclose(self) -> None:
        async with self._lock:
            await self._models.aclose()
            if self._service is not None:
                await self._service.aclose()

    async def _all_workflows(self) -> dict[str, Workflow]:
        return await all_workflows(self.workflow_store, self._bundled)


async def all_workflows(
    store: SqlWorkflowStore, bundled: dict[str, Workflow]
) -> dict[str, Workflow]:
    """Bundled and uploaded workflows; an uploaded one replaces a bundled one of that id."""
    return {**bundled, **{workflow.id: workflow for workflow in await store.list()}}


def enabled_workflows(workflows: dict[str, Workflow], valves: Valves) -> dict[str, Workflow]:
    enabled = valves.enabled_workflow_ids()
    if not enabled:
        return workflows
    return {
        workflow_id: workflows[workflow_id] for workflow_id in enabled if workflow_id in workflows
    }


def host_app() -> Any:
    """Open WebUI's app, for callers Open WebUI gives no request (``pipes()``). Imported
    when first asked for: importing it builds the whole app."""
    from open_webui.main import app

    return app


async def get_runtime(app: Any | None = None) -> PluginRuntime:
    """This process's runtime for ``app`` (Open WebUI's own by default, created on first
    use), current with the valves."""
    app = app if app is not None else host_app()
    runtime = getattr(app.state, STATE_NAME, None)
    if runtime is None:
        runtime = PluginRuntime(async_engine)
        setattr(app.state, STATE_NAME, runtime)
    await runtime.refresh()
    return runtime


async def close_runtime(app: Any) -> None:
    runtime = getattr(app.state, STATE_NAME, None)
    if runtime is not None:
        delattr(app.state, STATE_NAME)
        await runtime.aclose()
