"""Request and response bodies of the ``/api/v1/comfyui`` API (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from comfyui_pipe.config import PipeConfig
from comfyui_pipe.generation.limits import (
    LORA_STRENGTH_LIMIT,
    MAX_INPUT_IMAGES,
    MAX_LORA_NAME_LENGTH,
    MAX_LORAS,
)
from comfyui_pipe.generation.text import has_lone_surrogate
from comfyui_pipe.openwebui.api.model_schemas import ModelFileIn
from comfyui_pipe.workflow import MAX_RANDOM_SEED


def examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class RequestBody(BaseModel):
    """A body sent to the API: numbers are finite, text is valid Unicode (JSON can carry
    a lone UTF-16 surrogate, which nothing downstream can store or show)."""

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        if _holds_lone_surrogate(data):
            raise ValueError(
                "The request holds text that is not valid Unicode (a lone UTF-16 "
                "surrogate); remove it and send it again"
            )
        return data


def _holds_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return has_lone_surrogate(value)
    if isinstance(value, dict):
        return any(_holds_lone_surrogate(k) or _holds_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_lone_surrogate(item) for item in value)
    return False


class LoraIn(RequestBody):
    name: str = Field(
        min_length=1,
        description="LoRA file name; '.safetensors' may be left out.",
        json_schema_extra={"maxLength": MAX_LORA_NAME_LENGTH},
    )
    strength: float = Field(
        1.0,
        ge=-LORA_STRENGTH_LIMIT,
        le=LORA_STRENGTH_LIMIT,
        description="Weight applied to model and clip.",
    )


class GenerateRequest(RequestBody):
    model_config = examples(
        {
            "workflow": "sdxl_txt2img",
            "prompt": "a lighthouse on a cliff at dusk, oil painting",
            "negative_prompt": "blurry, text",
            "aspect_ratio": "16:9",
            "steps": 30,
            "cfg": 6.5,
            "seed": 42,
            "count": 2,
            "loras": [{"name": "detail", "strength": 0.8}],
        }
    )

    workflow: str | None = Field(
        None, description="Workflow id (see GET /workflows); the admin's default when left out."
    )
    prompt: str = Field(
        "",
        description="What to generate (required by every workflow that takes a prompt; an "
        "upscaler takes none); at most the admin's max_prompt_length characters (4000 unless "
        "changed).",
    )
    negative_prompt: str | None = Field(None, description="What to keep out of the image.")
    width: int | None = Field(None, ge=1, description="Width in pixels.")
    height: int | None = Field(None, ge=1, description="Height in pixels.")
    aspect_ratio: str | None = Field(
        None,
        pattern=r"^[1-9]\d{0,2}:[1-9]\d{0,2}$",
        description="Aspect ratio such as '16:9', applied to the workflow's default area.",
    )
    steps: int | None = Field(None, ge=1, description="Sampler steps.")
    cfg: float | None = Field(None, ge=0, description="CFG scale / guidance.")
    seed: int | None = Field(
        None, ge=0, le=MAX_RANDOM_SEED, description="Seed; random when left out."
    )
    count: int | None = Field(None, ge=1, description="Number of images.")
    # The bounds of the lists are the core's (generation/limits.py, the chat's too): shown
    # here, checked there, each with its sentence.
    loras: list[LoraIn] = Field(
        default_factory=list,
        description=f"LoRAs to apply, in order; at most {MAX_LORAS}.",
        json_schema_extra={"maxItems": MAX_LORAS},
    )
    images: list[str] = Field(
        default_factory=list,
        description="Input images for img2img / edit workflows: Open WebUI file ids of your "
        "own files, or data URLs; each within the admin's max_image_bytes and "
        f"max_image_pixels; at most {MAX_INPUT_IMAGES}, and no more than the workflow takes.",
        json_schema_extra={"maxItems": MAX_INPUT_IMAGES},
    )


JobStateName = Literal["queued", "running", "completed", "failed", "cancelled"]


class JobProgress(BaseModel):
    text: str = Field(description="The line a chat shows, e.g. 'Sampling 12/30 · 40%'.")
    stage: str = Field(
        "waiting",
        description="What the job is doing: waiting, queued, starting, loading, encoding, "
        "running, sampling, decoding, upscaling, saving, done, failed or cancelled.",
    )
    phase: str = Field(description="The stage in words: 'Sampling 12/30', 'Decoding', …")
    percent: float = Field(description="0–100.")
    step: int | None = Field(None, description="Sampler step reached.")
    steps: int | None = Field(None, description="Sampler steps in all.")
    queue_position: int | None = Field(None, description="Place in ComfyUI's queue (1 = next).")
    queue_total: int | None = Field(None, description="Jobs waiting in ComfyUI's queue.")
    eta_seconds: float | None = Field(
        None,
        description="Estimated seconds left: the scheduler's plan until it starts, then "
        "its sampler's pace.",
    )
    jobs_ahead: int | None = Field(
        None, description="Until it starts: the jobs planned before it on its server."
    )
    elapsed_seconds: float | None = Field(None, description="Since the job was queued.")


class JobLinks(BaseModel):
    self: str = Field(description="This job.")
    cancel: str = Field(description="POST here to cancel it.")
    outputs: list[str] = Field(description="Download URLs of the output files.")


_JOB_EXAMPLE = {
    "id": "7f7c3d0e-2f1a-4d5e-9c55-4b1f0a6f2d11",
    "owner_id": "b6a1…",
    "state": "completed",
    "workflow": "sdxl_txt2img",
    "params": {"prompt": "a lighthouse on a cliff at dusk", "seed": 42, "steps": 30},
    "chat_id": None,
    "message_id": None,
    "created_at": "2025-01-01T12:00:00Z",
    "started_at": "2025-01-01T12:00:01Z",
    "finished_at": "2025-01-01T12:00:15Z",
    "error": None,
    "attempt": 1,
    "output_file_ids": ["0c9d…"],
    "progress": {
        "text": "Done",
        "phase": "Done",
        "percent": 100.0,
        "step": 30,
        "steps": 30,
        "queue_position": None,
        "queue_total": None,
        "eta_seconds": None,
        "elapsed_seconds": 14.2,
    },
    "links": {
        "self": "/api/v1/comfyui/jobs/7f7c3d0e-2f1a-4d5e-9c55-4b1f0a6f2d11",
        "cancel": "/api/v1/comfyui/jobs/7f7c3d0e-2f1a-4d5e-9c55-4b1f0a6f2d11/cancel",
        "outputs": ["/api/v1/files/0c9d…/content"],
    },
}


class JobOut(BaseModel):
    model_config = examples(_JOB_EXAMPLE)

    id: str
    owner_id: str
    state: JobStateName
    workflow: str = Field(description="Workflow id.")
    params: dict[str, Any] = Field(description="The generation parameters as applied.")
    chat_id: str | None = Field(None, description="Set for jobs started from a chat.")
    message_id: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = Field(None, description="Why the job failed, as a sentence.")
    attempt: int = Field(
        1,
        description="Which run of the job this is: more than 1 once ComfyUI restarted or "
        "crashed while running it and it was queued again (up to the admin's max_attempts).",
    )
    output_file_ids: list[str] = Field(description="Open WebUI file ids of the outputs.")
    progress: JobProgress | None = Field(None, description="The latest progress.")
    links: JobLinks


class JobPage(BaseModel):
    model_config = examples({"items": [_JOB_EXAMPLE], "total": 1, "limit": 20, "offset": 0})

    items: list[JobOut] = Field(description="Newest first.")
    total: int = Field(description="Jobs matching, over all pages.")
    limit: int
    offset: int


class BoundsOut(BaseModel):
    min: float | None = None
    max: float | None = None


class WorkflowOut(BaseModel):
    model_config = examples(
        {
            "id": "sdxl_txt2img",
            "title": "Stable Diffusion XL (base + refiner)",
            "kind": "txt2img",
            "description": "Text to image with SDXL 1.0 at 1024×1024.",
            "source": "bundled",
            "default": False,
            "parameters": ["cfg", "height", "loras", "negative_prompt", "prompt", "seed", "steps"],
            "defaults": {"steps": 25, "cfg": 7.0, "width": 1024, "height": 1024},
            "bounds": {"width": {"min": 512, "max": 2048}},
            "outputs": ["image"],
            "available": True,
            "missing": [],
        }
    )

    id: str
    title: str
    kind: str = Field(description="txt2img, img2img, edit, inpaint, upscale, video, …")
    description: str
    source: Literal["bundled", "uploaded"]
    default: bool = Field(description="Used when a request names no workflow.")
    parameters: list[str] = Field(description="Request fields this workflow takes.")
    defaults: dict[str, Any] = Field(description="Values used when a request leaves them out.")
    bounds: dict[str, BoundsOut] = Field(description="Allowed range per parameter.")
    outputs: list[str] = Field(
        default_factory=list,
        description="Kinds of output a run makes: image, animated, video, audio, text.",
    )
    available: bool = Field(
        True, description="False when no ComfyUI server has every node and model it needs."
    )
    missing: list[str] = Field(
        default_factory=list, description="What the servers lack, one sentence each."
    )


class BoundsIn(RequestBody):
    min: float | None = None
    max: float | None = None


class WorkflowMetaIn(RequestBody):
    model_config = ConfigDict(extra="forbid")

    title: str = ""
    kind: str = "txt2img"
    description: str = ""
    defaults: dict[str, Any] = Field(default_factory=dict)
    bounds: dict[str, BoundsIn] = Field(default_factory=dict)
    mapping: dict[str, Any] | list[dict[str, Any]] | None = Field(
        None,
        description="Explicit parameter targets, for graphs whose wiring cannot be read "
        "(our shape, or Open WebUI's ComfyUI node list).",
    )
    models: list[ModelFileIn] = Field(
        default_factory=list,
        max_length=200,
        description="The model files it needs and where to download them (the console offers to).",
    )


class WorkflowUpload(RequestBody):
    model_config = examples(
        {
            "id": "my_sd15",
            "workflow": {
                "3": {
                    "class_type": "KSampler",
                    "inputs": {"seed": 1, "steps": 20, "model": ["4", 0], "…": "…"},
                },
                "4": {
                    "class_type": "CheckpointLoaderSimple",
                    "inputs": {"ckpt_name": "sd15.safetensors"},
                },
            },
            "meta": {"title": "My SD 1.5", "kind": "txt2img", "defaults": {"steps": 20}},
        }
    )

    id: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="Workflow id: letters, digits and underscores (models become comfyui.<id>).",
    )
    workflow: dict[str, Any] = Field(
        description='API-format JSON, as exported with ComfyUI\'s "Save (API)".'
    )
    meta: WorkflowMetaIn = Field(default_factory=WorkflowMetaIn)


class ErrorOut(BaseModel):
    model_config = examples({"detail": "Width 4096 is above the maximum 2048 allowed here."})

    detail: str = Field(description="What went wrong, as a sentence.")


def _optional_settings() -> dict[str, Any]:
    """Every setting, optional and unset by default."""
    return {
        name: (cast(Any, field.annotation) | None, Field(None, description=field.description))
        for name, field in PipeConfig.model_fields.items()
    }


class _SettingsBody(RequestBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"max_steps": 60}]})


SettingsUpdate: Any = create_model(
    "SettingsUpdate",
    __base__=_SettingsBody,
    __doc__="Any subset of the settings; the rest keep their values.",
    **_optional_settings(),
)
