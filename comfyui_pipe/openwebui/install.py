"""Install or refresh our plugins in Open WebUI at startup: the Pipe, the Actions and
the media Filter (Functions) and the Tool (Tools).

Only our own ids are ever touched. A new Pipe is made active so its models show
at once; the Actions are made active but not global (an admin gives them to
models, or makes them global); the Filter is made active and global, as it adds
players to the answers of every model that calls the Tool; the Tool gets no access
grants, so users see it only once an admin shares it and gives it to models. An
upgrade replaces the source and keeps what the admin chose (active and global
flags, valves, access). The plugins have no owner (``user_id`` is nullable in Open
WebUI's schema): they belong to the system, so they can be installed on an empty
database before any admin exists.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from comfyui_pipe.openwebui.chat.tool import Tools as ComfyTools
from comfyui_pipe.openwebui.function_source import PIPE, PLUGINS, Plugin, PluginKind
from comfyui_pipe.openwebui.host import HostPlugins

log = logging.getLogger(__name__)


class Installed(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


async def install_plugins(app_state: Any, plugins: HostPlugins) -> dict[str, Installed]:
    """Install or refresh every plugin; returns what happened to each id."""
    return {
        plugin.id: await install_function(app_state, plugins, plugin=plugin) for plugin in PLUGINS
    }


async def install_function(
    app_state: Any, plugins: HostPlugins, content: str | None = None, plugin: Plugin = PIPE
) -> Installed:
    """Create ``plugin`` or refresh its source; ``app_state`` is the app's ``state``, whose
    cached modules are dropped when the source changes."""
    content = plugin.source() if content is None else content
    if plugin.kind is PluginKind.TOOL:
        outcome = await _install_tool(plugins, plugin, content)
    else:
        outcome = await _install_function(plugins, plugin, content)
    if outcome is Installed.UPDATED:
        _forget_cached_module(app_state, plugin)
    if outcome is not Installed.UNCHANGED:
        log.info("ComfyUI plugin '%s': %s.", plugin.id, outcome.value)
    return outcome


async def _install_function(plugins: HostPlugins, plugin: Plugin, content: str) -> Installed:
    existing = await plugins.function(plugin.id)
    if existing is None:
        kind = plugin.kind.value
        if not await plugins.create_function(
            plugin.id, plugin.name, kind, content, plugin.description
        ):
            return Installed.UNCHANGED  # another worker process installed it first
        await plugins.set_function_flags(
            plugin.id, active=True, is_global=plugin.kind is PluginKind.FILTER
        )
        return Installed.CREATED
    if existing.content == content:
        return Installed.UNCHANGED
    await plugins.replace_function_source(plugin.id, content, plugin.description)
    return Installed.UPDATED


async def _install_tool(plugins: HostPlugins, plugin: Plugin, content: str) -> Installed:
    specs = plugins.tool_specs(ComfyTools())
    existing = await plugins.tool(plugin.id)
    if existing is None:
        if not await plugins.create_tool(
            plugin.id, plugin.name, content, plugin.description, specs
        ):
            return Installed.UNCHANGED
        return Installed.CREATED
    if existing.content == content and existing.specs == specs:
        return Installed.UNCHANGED
    await plugins.replace_tool_source(plugin.id, content, plugin.description, specs)
    return Installed.UPDATED


def _forget_cached_module(app_state: Any, plugin: Plugin) -> None:
    # Some Open WebUI paths use the cached module without comparing its source.
    caches = (
        ("TOOLS", "TOOL_CONTENTS")
        if plugin.kind is PluginKind.TOOL
        else (
            "FUNCTIONS",
            "FUNCTION_CONTENTS",
        )
    )
    for cache_name in caches:
        getattr(app_state, cache_name, {}).pop(plugin.id, None)
