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

from open_webui.models.functions import FunctionForm, FunctionMeta, Functions
from open_webui.models.tools import ToolForm, ToolMeta, Tools
from open_webui.utils.plugin import extract_frontmatter
from open_webui.utils.tools import get_tool_specs
from sqlalchemy.exc import IntegrityError

from comfyui_pipe.openwebui.chat.tool import Tools as ComfyTools
from comfyui_pipe.openwebui.function_source import PIPE, PLUGINS, Plugin, PluginKind

log = logging.getLogger(__name__)


class Installed(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


async def install_plugins(app_state: Any) -> dict[str, Installed]:
    """Install or refresh every plugin; returns what happened to each id."""
    return {plugin.id: await install_function(app_state, plugin=plugin) for plugin in PLUGINS}


async def install_function(
    app_state: Any, content: str | None = None, plugin: Plugin = PIPE
) -> Installed:
    """Create ``plugin`` or refresh its source; ``app_state`` is the app's ``state``, whose
    cached modules are dropped when the source changes."""
    content = plugin.source() if content is None else content
    if plugin.kind is PluginKind.TOOL:
        outcome = await _install_tool(plugin, content)
    else:
        outcome = await _install_function(plugin, content)
    if outcome is Installed.UPDATED:
        _forget_cached_module(app_state, plugin)
    if outcome is not Installed.UNCHANGED:
        log.info("ComfyUI plugin '%s': %s.", plugin.id, outcome.value)
    return outcome


async def _install_function(plugin: Plugin, content: str) -> Installed:
    meta = FunctionMeta(description=plugin.description, manifest=extract_frontmatter(content))
    existing = await Functions.get_function_by_id(plugin.id)
    if existing is None:
        form = FunctionForm(id=plugin.id, name=plugin.name, content=content, meta=meta)
        try:
            await Functions.insert_new_function(None, plugin.kind.value, form)
        except IntegrityError:
            # another worker process installed it first
            return Installed.UNCHANGED
        await Functions.update_function_by_id(
            plugin.id, {"is_active": True, "is_global": plugin.kind is PluginKind.FILTER}
        )
        return Installed.CREATED
    if existing.content == content:
        return Installed.UNCHANGED
    await Functions.update_function_by_id(
        plugin.id,
        {"content": content, "meta": meta.model_dump(exclude_none=True)},
        merge_meta=True,
    )
    return Installed.UPDATED


async def _install_tool(plugin: Plugin, content: str) -> Installed:
    meta = ToolMeta(description=plugin.description, manifest=extract_frontmatter(content))
    specs = get_tool_specs(ComfyTools())
    existing = await Tools.get_tool_by_id(plugin.id)
    if existing is None:
        form = ToolForm(id=plugin.id, name=plugin.name, content=content, meta=meta)
        try:
            await Tools.insert_new_tool(None, form, specs)
        except IntegrityError:
            return Installed.UNCHANGED
        return Installed.CREATED
    if existing.content == content and existing.specs == specs:
        return Installed.UNCHANGED
    await Tools.update_tool_by_id(
        plugin.id, {"content": content, "specs": specs, "meta": meta.model_dump()}
    )
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
