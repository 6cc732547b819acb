"""Each user's generation defaults (the Pipe's UserValves), which Open WebUI renders as a
form in the user's chat controls. The admin's settings are
:class:`comfyui_pipe.config.PipeConfig` (the Pipe's Valves)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UserValves(BaseModel):
    size: str = Field("", description="Default size, e.g. 1024x768 or 16:9; empty = workflow's.")
    steps: int | None = Field(None, ge=1, description="Default sampler steps.")
    cfg: float | None = Field(None, ge=0, description="Default CFG / guidance.")
    count: int | None = Field(None, ge=1, description="Default number of images.")
    negative_prompt: str = Field("", description="Always added to the negative prompt.")
