"""A user's saved generation defaults (the Pipe's per-user valves), read the same way for
the Pipe, the Tool and the Actions."""

from __future__ import annotations

from dataclasses import replace

from comfyui_pipe.generation.options import RequestOptions, parse_size
from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from comfyui_pipe.openwebui.host import HostPlugins
from comfyui_pipe.openwebui.valves import UserValves


def defaults_of(valves: UserValves) -> RequestOptions:
    """A user's saved defaults, the size read with the same parser as inline options."""
    return replace(
        parse_size(valves.size),
        steps=valves.steps,
        cfg=valves.cfg,
        count=valves.count,
        negative_prompt=valves.negative_prompt or None,
    )


async def stored_defaults(plugins: HostPlugins, user_id: str) -> RequestOptions:
    """The defaults ``user_id`` saved in the chat controls."""
    return defaults_of(UserValves(**await plugins.user_valves(FUNCTION_ID, user_id)))
