"""The plugin's per-process state, kept on ``app.state.comfyui_pipe``.

``get_runtime(app)`` creates and starts it on first use, so the Pipe works in a stock
Open WebUI too (then the Pipe is the first caller); after that it costs nothing. The
settings in use (``runtime.config``) are read from the store when the runtime starts
and again only when an admin saves them: through our PUT /settings (``save``), through
Open WebUI's own valves route (the app's middleware calls ``reload``), or in another
process (the config watch notices the function row's ``updated_at`` move). Settings
that are not valid are never applied: the ones in use stay. Whenever the offered
workflows change, their chat models are published (see ``model_access``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from comfyui_pipe.config import PipeConfig, ServerConfig, from_environment, salvaged
from comfyui_pipe.generation import BackendPool, GenerationService
from comfyui_pipe.openwebui.adopted_jobs import AdoptedJobDelivery
from comfyui_pipe.openwebui.catalog.availability import Availability
from comfyui_pipe.openwebui.catalog.chat_models import ADMIN_POLL_INTERVAL, ModelPublisher
from comfyui_pipe.openwebui.catalog.choice import WorkflowChoice
from comfyui_pipe.openwebui.config_store import ConfigStore, ConfigWatch, Stored
from comfyui_pipe.openwebui.host import OpenWebUIHost, open_webui_app
from comfyui_pipe.openwebui.queue_weights import GroupWeights
from comfyui_pipe.openwebui.store.files import OpenWebUIFileSink
from comfyui_pipe.openwebui.store.jobs_table import SqlJobStore, create_job_table
from comfyui_pipe.openwebui.store.workflow_store import SqlWorkflowStore, create_workflow_table
from comfyui_pipe.workflow import Workflow, bundled_workflows

log = logging.getLogger(__name__)

STATE_NAME = "comfyui_pipe"
MOUNTED = "comfyui_pipe_mounted"
"""Set on ``app.state`` by our ASGI app, whose middleware publishes the chat models before
serving any request once the first admin exists (no need to poll for one)."""


def backend_pool(servers: ServerConfig) -> BackendPool:
    return BackendPool(list(servers.urls), headers=dict(servers.headers), token=servers.token)


class PluginRuntime:
    """The generation service with its backends, job store, file sink, workflows and
    the settings in use."""

    def __init__(
        self,
        host: OpenWebUIHost,
        environment_config: PipeConfig,
        admin_poll_interval: float | None = ADMIN_POLL_INTERVAL,
    ) -> None:
        self.host = host
        self._environment = environment_config
        self.jobs = SqlJobStore(host.engine)
        self.sink = OpenWebUIFileSink(host)
        self.workflow_store = SqlWorkflowStore(host.engine)
        self.models = ModelPublisher(host, admin_poll_interval)
        self.availability = Availability()
        self._bundled = bundled_workflows()
        self._store = ConfigStore(host.plugins)
        self._watch = ConfigWatch(self._store.changed_at, self.reload)
        self._lock = asyncio.Lock()
        self._config = environment_config
        self._service: GenerationService | None = None
        self._delivery = AdoptedJobDelivery(host)
        self._weights = GroupWeights(host.users)

    @property
    def started(self) -> bool:
        return self._service is not None

    @property
    def service(self) -> GenerationService:
        if self._service is None:
            raise RuntimeError("The plugin runtime has not been started (use get_runtime).")
        return self._service

    @property
    def config(self) -> PipeConfig:
        """The settings in use (no database read)."""
        return self._config

    @property
    def watch(self) -> ConfigWatch:
        return self._watch

    async def start(self) -> None:
        """Create the tables, read the settings (those an admin saved, over the
        environment's), start the service and publish the chat models."""
        async with self._lock:
            if self._service is not None:
                return
            await create_job_table(self.host.engine)
            await create_workflow_table(self.host.engine)
            config = await self._first_load()
            workflows = enabled_workflows(await self._all_workflows(), config)
            self._use(config)
            self._service = GenerationService(
                backend_pool(config.servers),
                workflows,
                self.jobs,
                self.sink,
                config.policy,
                leases=self.jobs,
                lease_times=config.leases,
                delivery=self._delivery,
                weights=self._weights,
            )
            # Adopts the unfinished jobs of processes that stopped (this one's
            # predecessor after a restart included).
            self._service.open()
            await self.models.publish(workflows.values())
            self._watch.start()

    async def reload(self) -> PipeConfig:
        """Apply the stored settings; when they are not valid, the ones in use stay (and
        the log says why)."""
        async with self._lock:
            stored = await self._read()
            found = salvaged(stored.values, self._environment)
            if found.problems:
                log.error(
                    "The stored ComfyUI settings are not valid; the settings in use stay. %s",
                    " ".join(found.problems),
                )
                return self._config
            await self._apply(found.config)
            return found.config

    async def save(self, changes: Mapping[str, Any]) -> PipeConfig:
        """``changes`` over the stored settings, validated as a whole (over the
        environment's), stored and applied. Raises ``ValidationError`` (or
        ``FunctionMissing``) having stored nothing."""
        async with self._lock:
            stored = await self._read()
            in_use = salvaged(stored.values, self._environment).config
            config = PipeConfig.model_validate({**in_use.stored_values(), **changes})
            saved = config.stored_values()
            await self._store.write({name: saved[name] for name in {*stored.values, *changes}})
            await self._apply(config)
            return config

    def choice(self, workflows: Mapping[str, Workflow] | None = None) -> WorkflowChoice:
        """The rule that picks workflows, over ``workflows`` (by default those the
        service runs)."""
        service = self.service
        offered = service.workflows if workflows is None else workflows
        return WorkflowChoice(
            self.host, self.availability, offered, service.pool, self._config.default_workflow
        )

    async def workflows(self) -> dict[str, Workflow]:
        """The workflows offered: bundled and uploaded ones, narrowed to the enabled ids."""
        return enabled_workflows(await self._all_workflows(), self._config)

    async def reload_workflows(self) -> None:
        """Apply an uploaded or deleted workflow."""
        async with self._lock:
            workflows = enabled_workflows(await self._all_workflows(), self._config)
            self.service.reconfigure(workflows=workflows)
            await self.models.publish(workflows.values())

    async def aclose(self) -> None:
        await self._watch.aclose()
        async with self._lock:
            await self.models.aclose()
            await self.availability.aclose()
            if self._service is not None:
                await self._service.aclose()

    async def _first_load(self) -> PipeConfig:
        found = salvaged((await self._read()).values, self._environment)
        for problem in found.problems:
            log.warning("Stored ComfyUI setting %s", problem)
        return found.config

    async def _read(self) -> Stored:
        stored = await self._store.read()
        self._watch.loaded(stored)
        return stored

    async def _apply(self, config: PipeConfig) -> None:
        if config == self._config:
            return
        service = self.service
        if config.servers != self._config.servers:
            # The service closes the replaced pool after its last job.
            service.reconfigure(pool=backend_pool(config.servers))
        workflows = enabled_workflows(await self._all_workflows(), config)
        self._use(config)
        service.reconfigure(workflows=workflows, policy=config.policy, lease_times=config.leases)
        await self.models.publish(workflows.values())

    def _use(self, config: PipeConfig) -> None:
        self._config = config
        self._weights.configure(config.group_weights)

    async def _all_workflows(self) -> dict[str, Workflow]:
        return await all_workflows(self.workflow_store, self._bundled)


async def all_workflows(
    store: SqlWorkflowStore, bundled: dict[str, Workflow]
) -> dict[str, Workflow]:
    """Bundled and uploaded workflows; an uploaded one replaces a bundled one of that id."""
    return {**bundled, **{workflow.id: workflow for workflow in await store.list()}}


def enabled_workflows(workflows: dict[str, Workflow], config: PipeConfig) -> dict[str, Workflow]:
    enabled = config.enabled_workflow_ids
    if not enabled:
        return workflows
    return {
        workflow_id: workflows[workflow_id] for workflow_id in enabled if workflow_id in workflows
    }


def runtime_of(app: Any) -> PluginRuntime:
    """This process's runtime for ``app``, created (not started) on first use."""
    runtime: PluginRuntime | None = getattr(app.state, STATE_NAME, None)
    if runtime is None:
        runtime = _new_runtime(app)
        setattr(app.state, STATE_NAME, runtime)
    return runtime


async def get_runtime(app: Any | None = None) -> PluginRuntime:
    """This process's runtime for ``app`` (Open WebUI's own by default, for callers Open
    WebUI gives no request, such as ``pipes()``), created and started on first use."""
    runtime = runtime_of(app if app is not None else open_webui_app())
    if not runtime.started:
        await runtime.start()
    return runtime


def _new_runtime(app: Any) -> PluginRuntime:
    """The environment is read here, once per process: it gives every setting no admin
    saved (so a changed deployment applies at its next start)."""
    found = from_environment(os.environ)
    for problem in found.problems:
        log.warning("ComfyUI setting from the environment: %s", problem)
    poll = None if getattr(app.state, MOUNTED, False) else ADMIN_POLL_INTERVAL
    return PluginRuntime(OpenWebUIHost(), found.config, admin_poll_interval=poll)


async def close_runtime(app: Any) -> None:
    runtime = getattr(app.state, STATE_NAME, None)
    if runtime is not None:
        delattr(app.state, STATE_NAME)
        await runtime.aclose()
