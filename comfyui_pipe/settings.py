"""Deployment settings read from the environment (first-run defaults).

This is the one list of environment variables the plugin reads. The admin
panel (the Pipe's valves) starts from these values; the compose files set
exactly these names (a test compares the two).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

ENV_PREFIX = "COMFYUI_"


class Settings(BaseModel):
    url: str = Field(
        "http://127.0.0.1:8188",
        description="ComfyUI base URL; several backends separated by commas.",
    )
    auth_header: str = Field(
        "", description="Extra header sent to ComfyUI on HTTP and WebSocket, 'Name: value'."
    )
    token: str = Field("", description="Token sent as ?token= (ComfyUI-Login style).")
    default_workflow: str = Field("sd15_txt2img", description="Workflow used by default.")
    enabled_workflows: str = Field(
        "", description="Comma-separated workflow ids shown as models; empty = all bundled."
    )
    max_size: int = Field(2048, description="Largest width or height a user may ask for.")
    max_steps: int = Field(80, description="Most sampler steps a user may ask for.")
    max_count: int = Field(4, description="Most images per request.")
    max_prompt_length: int = Field(4000, description="Most characters in a prompt.")
    max_image_pixels: int = Field(4096 * 4096, description="Most pixels in an input image.")
    max_image_bytes: int = Field(20 * 1024 * 1024, description="Largest input image file.")
    jobs_per_user: int = Field(2, description="Concurrent jobs one user may run.")
    job_timeout: float = Field(900.0, description="Seconds before a job is given up.")
    previews: bool = Field(True, description="Show live previews while sampling.")

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name -> environment variable name."""
        return {name: ENV_PREFIX + name.upper() for name in cls.model_fields}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values = {field: environ[env] for field, env in cls.env_names().items() if environ.get(env)}
        return cls(**values)
