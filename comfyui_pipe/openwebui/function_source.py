"""The plugins as Open WebUI stores them: shims over the installed package.

Open WebUI keeps each function's and tool's Python source in its database and
executes it. Ours only import the real classes from this package, so upgrading
the package upgrades them; the version in the front-matter makes each release's
source differ, which is how the installer notices an upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from comfyui_pipe import __version__

FUNCTION_ID = "comfyui"
FUNCTION_NAME = "ComfyUI"
FUNCTION_DESCRIPTION = "Generate images and video with ComfyUI, with live progress and Stop."


class PluginKind(StrEnum):
    """Open WebUI's function types, and ``tool`` (kept in its own table)."""

    PIPE = "pipe"
    ACTION = "action"
    FILTER = "filter"
    TOOL = "tool"


@dataclass(frozen=True)
class Plugin:
    id: str
    name: str
    description: str
    kind: PluginKind
    module: str
    class_name: str

    def source(self, version: str = __version__) -> str:
        """The shim for ``version`` (no ``requirements``: the package is installed)."""
        return f'''"""
title: {self.name}
author: comfyui-pipe
version: {version}
description: {self.description}
"""

from {self.module} import {self.class_name}

__all__ = ("{self.class_name}",)
'''


PIPE = Plugin(
    FUNCTION_ID,
    FUNCTION_NAME,
    FUNCTION_DESCRIPTION,
    PluginKind.PIPE,
    "comfyui_pipe.openwebui.chat.pipe",
    "Pipe",
)
ACTIONS = Plugin(
    "comfyui_actions",
    "ComfyUI actions",
    "Upscale, Variations, Use as input and Re-run under a ComfyUI result.",
    PluginKind.ACTION,
    "comfyui_pipe.openwebui.chat.actions",
    "Action",
)
TOOL = Plugin(
    "comfyui_tool",
    "ComfyUI",
    "Generate, edit, animate and upscale images with ComfyUI from any tool-calling model.",
    PluginKind.TOOL,
    "comfyui_pipe.openwebui.chat.tool",
    "Tools",
)
MEDIA_FILTER = Plugin(
    "comfyui_media",
    "ComfyUI players",
    "Shows a player under a chat answer for each ComfyUI video or sound it made.",
    PluginKind.FILTER,
    "comfyui_pipe.openwebui.chat.media_filter",
    "Filter",
)
PLUGINS = (PIPE, ACTIONS, TOOL, MEDIA_FILTER)


def function_source(version: str = __version__) -> str:
    """The Pipe function's source for ``version``."""
    return PIPE.source(version)
