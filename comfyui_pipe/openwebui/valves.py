"""The admin panel (Valves) and the per-user defaults (UserValves).

Open WebUI renders these pydantic models as forms: Valves under Workspace →
Functions → ComfyUI (gear icon), UserValves in each user's chat controls.
Environment variables (``comfyui_pipe.settings``) give the first-run values;
once an admin saves the form, the database copy wins.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from comfyui_pipe.generation.leases import LeaseTimes
from comfyui_pipe.generation.limits import Limits
from comfyui_pipe.settings import Settings

SECRET_VALVES = ("comfyui_auth_header", "comfyui_token")


def _env_default(field: str) -> Any:
    return lambda: getattr(Settings.from_env(), field)


def _secret() -> dict[str, Any]:
    return {"input": {"type": "password"}}


class Valves(BaseModel):
    comfyui_url: str = Field(
        default_factory=_env_default("url"),
        description="ComfyUI base URL; several servers separated by commas share the jobs.",
    )
    comfyui_auth_header: str = Field(
        default_factory=_env_default("auth_header"),
        description="Header for a ComfyUI behind an authenticating proxy, as 'Name: value'.",
        json_schema_extra=_secret(),
    )
    comfyui_token: str = Field(
        default_factory=_env_default("token"),
        description="Token sent as ?token= (ComfyUI-Login and similar).",
        json_schema_extra=_secret(),
    )
    enabled_workflows: str = Field(
        default_factory=_env_default("enabled_workflows"),
        description="Comma-separated workflow ids offered as models; empty = all.",
    )
    default_workflow: str = Field(
        default_factory=_env_default("default_workflow"),
        description="Workflow used by the HTTP API when none is named.",
    )
    max_size: int = Field(
        default_factory=_env_default("max_size"), ge=64, description="Largest width or height."
    )
    max_steps: int = Field(
        default_factory=_env_default("max_steps"), ge=1, description="Most sampler steps."
    )
    max_count: int = Field(
        default_factory=_env_default("max_count"), ge=1, description="Most images per request."
    )
    max_prompt_length: int = Field(
        default_factory=_env_default("max_prompt_length"),
        ge=1,
        description="Most characters in a prompt (and in a negative prompt).",
    )
    max_image_pixels: int = Field(
        default_factory=_env_default("max_image_pixels"),
        ge=1,
        description="Most pixels in an input image (16777216 = 4096×4096).",
    )
    max_image_bytes: int = Field(
        default_factory=_env_default("max_image_bytes"),
        ge=1,
        description="Largest input image file, in bytes.",
    )
    jobs_per_user: int = Field(
        default_factory=_env_default("jobs_per_user"),
        ge=1,
        description="Generations one user may run at the same time.",
    )
    job_timeout: float = Field(
        default_factory=_env_default("job_timeout"),
        gt=0,
        description="Seconds before a generation is given up and cancelled on ComfyUI.",
    )
    previews: bool = Field(
        default_factory=_env_default("previews"), description="Live previews while sampling."
    )
    server_queue_depth: int = Field(
        2,
        ge=1,
        description="Jobs sent to one ComfyUI server at a time (running + pending); "
        "the rest wait in the plugin's fair queue.",
    )
    queue_group_weights: str = Field(
        "",
        description="More turns in the queue for some Open WebUI groups, as 'group = "
        "weight' pairs separated by commas, e.g. 'Pro = 3, Trial = 0.5': users with "
        "waiting jobs take turns in proportion to the highest weight of their groups; "
        "users in no listed group weigh 1 (a change of groups counts within 10 s). Empty = "
        "everyone takes turns equally.",
    )
    cancel_on_shutdown: bool = Field(
        False,
        description="Cancel running generations on ComfyUI when Open WebUI stops, instead "
        "of leaving them for the restarted server to finish.",
    )
    progress_save_seconds: float = Field(
        0.0,
        ge=0,
        description="Seconds between saving a running generation's progress to the "
        "database, for GET /jobs/{id} answered by another Open WebUI worker; 0 = saved "
        "only when it starts and ends (one worker always shows it live).",
    )
    lease_heartbeat: float = Field(
        LeaseTimes.heartbeat,
        gt=0,
        description="Seconds between the heartbeats of each Open WebUI process (its lease "
        "on the generations it follows).",
    )
    lease_expiry: float = Field(
        LeaseTimes.expiry,
        gt=0,
        description="Seconds without a heartbeat before another process adopts a "
        "process's generations (at least twice the heartbeat).",
    )

    @field_validator("queue_group_weights")
    @classmethod
    def _readable_group_weights(cls, text: str) -> str:
        parse_group_weights(text)
        return text

    @model_validator(mode="after")
    def _lease_outlives_heartbeats(self) -> Valves:
        if self.lease_expiry < 2 * self.lease_heartbeat:
            raise ValueError("The lease expiry must be at least twice the heartbeat.")
        return self

    def public(self) -> dict[str, Any]:
        """The values without secrets (what non-admins may see)."""
        return self.model_dump(exclude=set(SECRET_VALVES))

    def backend_urls(self) -> list[str]:
        return [url.strip() for url in self.comfyui_url.split(",") if url.strip()]

    def auth_headers(self) -> dict[str, str]:
        name, sep, value = self.comfyui_auth_header.partition(":")
        return {name.strip(): value.strip()} if sep and name.strip() else {}

    def limits(self) -> Limits:
        return Limits(
            max_size=self.max_size,
            max_steps=self.max_steps,
            max_count=self.max_count,
            max_prompt_length=self.max_prompt_length,
            max_image_pixels=self.max_image_pixels,
            max_image_bytes=self.max_image_bytes,
        )

    def lease_times(self) -> LeaseTimes:
        return LeaseTimes(heartbeat=self.lease_heartbeat, expiry=self.lease_expiry)

    def enabled_workflow_ids(self) -> list[str]:
        return [w.strip() for w in self.enabled_workflows.split(",") if w.strip()]

    def group_weights(self) -> dict[str, float]:
        return parse_group_weights(self.queue_group_weights)


def parse_group_weights(text: str) -> dict[str, float]:
    """``'Pro = 3, Trial = 0.5'`` as ``{"Pro": 3.0, "Trial": 0.5}``; a ``ValueError``
    with a sentence for anything else."""
    weights: dict[str, float] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, sep, number = (side.strip() for side in pair.partition("="))
        if not sep or not name:
            raise ValueError(f"Write each group's weight as 'group = weight' (not '{pair}').")
        try:
            weight = float(number)
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"The weight of the group '{name}' must be a number above 0.")
        if name.casefold() in (known.casefold() for known in weights):
            raise ValueError(f"The group '{name}' is given a weight twice.")
        weights[name] = weight
    return weights


class UserValves(BaseModel):
    size: str = Field("", description="Default size, e.g. 1024x768 or 16:9; empty = workflow's.")
    steps: int | None = Field(None, ge=1, description="Default sampler steps.")
    cfg: float | None = Field(None, ge=0, description="Default CFG / guidance.")
    count: int | None = Field(None, ge=1, description="Default number of images.")
    negative_prompt: str = Field("", description="Always added to the negative prompt.")
