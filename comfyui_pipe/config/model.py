"""The plugin's settings: one validated, frozen model, flat as the admin panel shows it.

Open WebUI renders the Pipe's ``Valves`` class (this model) as the admin form under
Workspace → Functions → ComfyUI, stores what it validates in the function's valves,
and our PUT /api/v1/comfyui/settings validates and stores the same way. The rest of the
plugin reads typed views built from the flat fields once per config object:
``servers``, ``limits``, ``leases``, ``policy``, ``group_weights``,
``enabled_workflow_ids``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.config import JsonDict

from comfyui_pipe.generation import Limits, Policy
from comfyui_pipe.generation.leases import LeaseTimes

from . import text

_LIMITS, _POLICY, _LEASES = Limits(), Policy(), LeaseTimes()
_SECRET: JsonDict = {"input": {"type": "password"}}

MAX_TEXT = 10_000
"""Characters in a text setting (the URL list, the workflow ids, the group weights)."""
MAX_SECRET = 8_000
"""Characters in the header or the token."""


def _read_by(read: Callable[[str], object]) -> AfterValidator:
    """Text kept as written, refused when ``read`` cannot read it."""

    def readable(value: str) -> str:
        read(value)
        return value

    return AfterValidator(readable)


Text = Annotated[str, AfterValidator(text.without_control_characters)]
ServerList = Annotated[Text, _read_by(text.server_urls)]
Header = Annotated[Text, _read_by(text.header)]
Weights = Annotated[Text, _read_by(text.group_weights)]
Servers = Annotated[Text, _read_by(text.listed_servers)]
ModelFolders = Annotated[Text, _read_by(text.model_folders)]


@dataclass(frozen=True)
class ServerConfig:
    """What a backend pool is built from: a change of these means a new pool."""

    urls: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    token: str | None
    api_key: str | None = None


class PipeConfig(BaseModel):
    """Bounds are part of each field's description: the admin form shows them."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False, title="ComfyUI settings")

    comfyui_url: ServerList = Field(
        "http://127.0.0.1:8188",
        max_length=MAX_TEXT,
        description="ComfyUI base URL, http:// or https://; a Comfy API v2 server (Comfy "
        "Cloud, comfy-api-proxy) with comfy-v2+ before it, e.g. "
        f"comfy-v2+https://cloud.comfy.org; several servers (up to {text.MAX_SERVERS}) "
        "separated by commas share the jobs.",
    )
    drained_servers: Servers = Field(
        "",
        max_length=MAX_TEXT,
        description="Servers of the list above that take no new jobs, separated by commas: "
        "each finishes the jobs it has. At least one server must take new jobs.",
    )
    model_folders: ModelFolders = Field(
        "",
        max_length=MAX_TEXT,
        description="Where this Open WebUI can write a server's models folder, as 'URL = "
        "path' pairs separated by commas, e.g. 'http://comfyui:8188 = /comfyui-models': the "
        "ComfyUI console downloads and removes models there. For any other server it says "
        "which file to put in which folder.",
    )
    comfyui_auth_header: Header = Field(
        "",
        max_length=MAX_SECRET,
        description="Header for a ComfyUI behind an authenticating proxy, as 'Name: value'.",
        json_schema_extra=_SECRET,
    )
    comfyui_token: Text = Field(
        "",
        max_length=MAX_SECRET,
        description="Token sent as ?token= (ComfyUI-Login and similar).",
        json_schema_extra=_SECRET,
    )
    comfy_api_key: Text = Field(
        "",
        max_length=MAX_SECRET,
        description="API key for the Comfy API v2 servers (comfy-v2+…): Comfy Cloud's "
        "(platform.comfy.org), or comfy-api-proxy's --token. Sent to those only.",
        json_schema_extra=_SECRET,
    )
    enabled_workflows: Text = Field(
        "",
        max_length=MAX_TEXT,
        description="Comma-separated workflow ids offered as models; empty = all.",
    )
    default_workflow: Text = Field(
        "sd15_txt2img",
        min_length=1,
        max_length=200,
        description="Workflow used by the HTTP API when none is named.",
    )
    max_size: int = Field(
        _LIMITS.max_size, ge=64, le=16384, description="Largest width or height (64–16384)."
    )
    max_steps: int = Field(
        _LIMITS.max_steps, ge=1, le=10_000, description="Most sampler steps (1–10000)."
    )
    max_count: int = Field(
        _LIMITS.max_count, ge=1, le=64, description="Most images per request (1–64)."
    )
    max_prompt_length: int = Field(
        _LIMITS.max_prompt_length,
        ge=1,
        le=100_000,
        description="Most characters in a prompt (and in a negative prompt), 1–100000.",
    )
    max_image_pixels: int = Field(
        _LIMITS.max_image_pixels,
        ge=1,
        le=16384 * 16384,
        description="Most pixels in an input image (16777216 = 4096×4096), up to "
        "268435456 (16384×16384).",
    )
    max_image_bytes: int = Field(
        _LIMITS.max_image_bytes,
        ge=1,
        le=1024**3,
        description="Largest input image file, in bytes, up to 1073741824 (1 GiB).",
    )
    max_output_bytes: int = Field(
        _POLICY.max_output_bytes,
        ge=2**20,
        le=2**36,
        description="Largest output file a generation may return, in bytes (1 GiB unless "
        "changed), from 1048576 (1 MiB) up to 68719476736 (64 GiB); a generation whose "
        "ComfyUI sends a larger one fails and keeps nothing.",
    )
    jobs_per_user: int = Field(
        _POLICY.jobs_per_user,
        ge=1,
        le=1000,
        description="Generations one user may run at the same time (1–1000).",
    )
    job_timeout: float = Field(
        _POLICY.job_timeout,
        gt=0,
        le=7 * 24 * 3600,
        description="Seconds before a generation is given up and cancelled on ComfyUI, "
        "up to 604800 (a week).",
    )
    previews: bool = Field(_POLICY.previews, description="Live previews while sampling.")
    server_queue_depth: int = Field(
        _POLICY.server_depth,
        ge=1,
        le=64,
        description="Jobs sent to one ComfyUI server at a time (running + pending), 1–64; "
        "the rest wait in the plugin's fair queue.",
    )
    queue_group_weights: Weights = Field(
        "",
        max_length=MAX_TEXT,
        description="More turns in the queue for some Open WebUI groups, as 'group = "
        "weight' pairs separated by commas, e.g. 'Pro = 3, Trial = 0.5': users with "
        "waiting jobs take turns in proportion to the highest weight of their groups; "
        "users in no listed group weigh 1 (a change of groups counts within 10 s). Up to "
        f"{text.MAX_GROUPS} groups, weights from {text.MIN_WEIGHT:g} to "
        f"{text.MAX_WEIGHT:g}. Empty = everyone takes turns equally.",
    )
    max_attempts: int = Field(
        _POLICY.max_attempts,
        ge=1,
        le=10,
        description="Times a generation is run when ComfyUI restarts or crashes while "
        "running it, 1–10: until then it is queued again at the front (same workflow and "
        "seed) and its user reads 'running again (attempt 2 of 3)'; 1 = it fails at once.",
    )
    cancel_on_shutdown: bool = Field(
        _POLICY.cancel_on_shutdown,
        description="Cancel running generations on ComfyUI when Open WebUI stops, instead "
        "of leaving them for the restarted server to finish.",
    )
    progress_save_seconds: float = Field(
        _POLICY.progress_save_every,
        ge=0,
        le=3600,
        description="Seconds between saving a running generation's progress to the "
        "database, for GET /jobs/{id} answered by another Open WebUI worker; 0 = saved "
        "only when it starts and ends (one worker always shows it live). Up to 3600.",
    )
    lease_heartbeat: float = Field(
        _LEASES.heartbeat,
        ge=0.1,
        le=600,
        description="Seconds between the heartbeats of each Open WebUI process (its lease "
        "on the generations it follows), 0.1–600.",
    )
    lease_expiry: float = Field(
        _LEASES.expiry,
        validate_default=True,  # checked against the heartbeat even when not given
        ge=0.2,
        le=3600,
        description="Seconds without a heartbeat before another process adopts a "
        "process's generations: at least twice the heartbeat, up to 3600.",
    )

    CHECKED_TOGETHER: ClassVar[tuple[frozenset[str], ...]] = (
        frozenset({"lease_heartbeat", "lease_expiry"}),
        frozenset({"comfyui_url", "drained_servers"}),
    )
    """Settings valid or not only together (the refusal names the last of them)."""

    @field_validator("lease_expiry")
    @classmethod
    def _lease_outlives_heartbeats(cls, expiry: float, info: ValidationInfo) -> float:
        heartbeat = info.data.get("lease_heartbeat")
        if heartbeat is not None and expiry < 2 * heartbeat:
            raise ValueError("The lease expiry must be at least twice the heartbeat")
        return expiry

    @field_validator("drained_servers")
    @classmethod
    def _one_server_takes_jobs(cls, drained: str, info: ValidationInfo) -> str:
        listed = info.data.get("comfyui_url")
        if listed is not None and set(text.server_urls(listed)) <= set(
            text.listed_servers(drained)
        ):
            raise ValueError("At least one server must take new jobs; do not drain them all")
        return drained

    def stored_values(self) -> dict[str, Any]:
        """The flat values, as the function's valves keep them."""
        return self.model_dump()

    def model_copy(self, *, update: Any = None, deep: bool = False) -> PipeConfig:
        """A validated copy (pydantic's own would skip validation and carry the views
        built for this object)."""
        return type(self).model_validate({**self.stored_values(), **(update or {})})

    @cached_property
    def servers(self) -> ServerConfig:
        return ServerConfig(
            urls=text.server_urls(self.comfyui_url),
            headers=text.header(self.comfyui_auth_header),
            token=self.comfyui_token or None,
            api_key=self.comfy_api_key or None,
        )

    @cached_property
    def drained(self) -> frozenset[str]:
        """The listed servers that take no new jobs (a drained URL no longer listed is
        ignored)."""
        return frozenset(text.listed_servers(self.drained_servers)) & set(self.servers.urls)

    @cached_property
    def model_folder_of(self) -> MappingProxyType[str, str]:
        """Server URL -> the path of its models folder here, for the listed servers."""
        folders = text.model_folders(self.model_folders)
        return MappingProxyType({url: folders[url] for url in self.servers.urls if url in folders})

    @cached_property
    def limits(self) -> Limits:
        return Limits(
            max_size=self.max_size,
            max_steps=self.max_steps,
            max_count=self.max_count,
            max_prompt_length=self.max_prompt_length,
            max_image_pixels=self.max_image_pixels,
            max_image_bytes=self.max_image_bytes,
        )

    @cached_property
    def leases(self) -> LeaseTimes:
        return LeaseTimes(heartbeat=self.lease_heartbeat, expiry=self.lease_expiry)

    @cached_property
    def policy(self) -> Policy:
        return Policy(
            limits=self.limits,
            jobs_per_user=self.jobs_per_user,
            job_timeout=self.job_timeout,
            previews=self.previews,
            server_depth=self.server_queue_depth,
            cancel_on_shutdown=self.cancel_on_shutdown,
            max_attempts=self.max_attempts,
            progress_save_every=self.progress_save_seconds,
            max_output_bytes=self.max_output_bytes,
        )

    @cached_property
    def group_weights(self) -> MappingProxyType[str, float]:
        return MappingProxyType(text.group_weights(self.queue_group_weights))

    @cached_property
    def enabled_workflow_ids(self) -> tuple[str, ...]:
        """Empty: every workflow is offered."""
        return tuple(text.comma_separated(self.enabled_workflows))
