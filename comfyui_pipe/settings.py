"""The environment variables the plugin reads: each gives the value of one
setting of :class:`comfyui_pipe.config.PipeConfig`.

This is the one list of them; the compose files set exactly these names (a test
compares the two). They are read once per process, when the plugin starts: after
that the settings an admin saves win.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

ENV_PREFIX = "COMFYUI_"

VARIABLE_OF_SETTING: Mapping[str, str] = MappingProxyType(
    {
        "comfyui_url": "COMFYUI_URL",
        "comfyui_auth_header": "COMFYUI_AUTH_HEADER",
        "comfyui_token": "COMFYUI_TOKEN",
        **{
            setting: ENV_PREFIX + setting.upper()
            for setting in (
                "default_workflow",
                "enabled_workflows",
                "max_size",
                "max_steps",
                "max_count",
                "max_prompt_length",
                "max_image_pixels",
                "max_image_bytes",
                "jobs_per_user",
                "job_timeout",
                "previews",
            )
        },
    }
)
"""Setting name -> the environment variable giving its value."""


def environment_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The settings ``environ`` gives, as text (setting name -> value); a variable that is
    unset or blank gives none."""
    return {
        setting: environ[variable]
        for setting, variable in VARIABLE_OF_SETTING.items()
        if environ.get(variable, "").strip()
    }
