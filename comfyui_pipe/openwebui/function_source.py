"""The Pipe function as Open WebUI stores it: a shim over the installed package.

Open WebUI keeps each function's Python source in its database and executes
it. Ours only imports the real ``Pipe`` from this package, so upgrading the
package upgrades the function; the version in the front-matter makes each
release's source differ, which is how the installer notices an upgrade.
"""

from __future__ import annotations

from comfyui_pipe import __version__

FUNCTION_ID = "comfyui"
FUNCTION_NAME = "ComfyUI"
FUNCTION_DESCRIPTION = "Generate images and video with ComfyUI, with live progress and Stop."


def function_source(version: str = __version__) -> str:
    """The function's source for ``version`` (no ``requirements``: the package is installed)."""
    return f'''"""
title: {FUNCTION_NAME}
author: comfyui-pipe
version: {version}
description: {FUNCTION_DESCRIPTION}
"""

from comfyui_pipe.openwebui.pipe import Pipe

__all__ = ["Pipe"]
'''
