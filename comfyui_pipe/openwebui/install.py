"""Install or refresh the Pipe function in Open WebUI's Functions at startup.

Only the function with id ``comfyui`` is ever touched. A new installation is
made active so its models show at once; an upgrade replaces the source and
keeps what the admin chose (active flag, valves). The function has no owner
(``user_id`` is nullable in Open WebUI's schema): it belongs to the system,
so it can be installed on an empty database before any admin exists.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from open_webui.models.functions import FunctionForm, FunctionMeta, Functions
from open_webui.utils.plugin import extract_frontmatter
from sqlalchemy.exc import IntegrityError

from comfyui_pipe.openwebui.function_source import (
    FUNCTION_DESCRIPTION,
    FUNCTION_ID,
    FUNCTION_NAME,
    function_source,
)

log = logging.getLogger(__name__)


class Installed(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


async def install_function(app_state: Any, content: str | None = None) -> Installed:
    """Create the function (active) or refresh its source; ``app_state`` is the app's
    ``state``, whose cached function modules are dropped when the source changes."""
    content = function_source() if content is None else content
    meta = FunctionMeta(description=FUNCTION_DESCRIPTION, manifest=extract_frontmatter(content))
    existing = await Functions.get_function_by_id(FUNCTION_ID)
    if existing is None:
        form = FunctionForm(id=FUNCTION_ID, name=FUNCTION_NAME, content=content, meta=meta)
        try:
            await Functions.insert_new_function(None, "pipe", form)
        except IntegrityError:
            # another worker process installed it first
            return Installed.UNCHANGED
        await Functions.update_function_by_id(FUNCTION_ID, {"is_active": True})
        log.info("Installed the ComfyUI pipe function (active).")
        return Installed.CREATED
    if existing.content == content:
        return Installed.UNCHANGED
    await Functions.update_function_by_id(
        FUNCTION_ID,
        {"content": content, "meta": meta.model_dump(exclude_none=True)},
        merge_meta=True,
    )
    _forget_cached_module(app_state)
    log.info("Refreshed the ComfyUI pipe function's source.")
    return Installed.UPDATED


def _forget_cached_module(app_state: Any) -> None:
    # Some Open WebUI paths use the cached module without comparing its source.
    for cache_name in ("FUNCTIONS", "FUNCTION_CONTENTS"):
        getattr(app_state, cache_name, {}).pop(FUNCTION_ID, None)
