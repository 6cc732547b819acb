"""Bodies of the routes that tell what ComfyUI has installed and how its backends are
doing (what OpenAPI shows)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .schemas import examples


class ModelsOut(BaseModel):
    model_config = examples(
        {
            "models": {
                "checkpoints": ["sd_xl_base_1.0.safetensors"],
                "loras": ["detail.safetensors"],
                "vae": ["ae.safetensors"],
                "upscale_models": ["4x.pth"],
            }
        }
    )

    models: dict[str, list[str]] = Field(description="Model folder → file names on ComfyUI.")


class WorkflowSpeedOut(BaseModel):
    workflow: str
    runs: int = Field(description="Its runs on this server remembered (the latest 8).")
    fixed_seconds: float = Field(description="Time beside the sampler steps and loading.")
    seconds_per_step: float | None = Field(None, description="At 512×512 pixels.")
    size_exponent: float = Field(description="Seconds per step grow as pixels^this.")


class LearntOut(BaseModel):
    workflows: list[WorkflowSpeedOut] = Field(description="Speeds per workflow it has run.")
    load_seconds: dict[str, float] = Field(
        description="Loader class:model file → seconds it took to load here."
    )
    resident: list[str] = Field(description="Model files it is believed to hold now.")


class BackendHealthOut(BaseModel):
    name: str = Field(description="'backend 1', 'backend 2', … in the order configured.")
    url: str | None = Field(None, description="The ComfyUI URL; shown to admins only.")
    reachable: bool
    version: str | None = None
    queue_running: int = 0
    queue_pending: int = 0
    devices: list[dict[str, Any]] = Field(
        default_factory=list, description="GPUs / CPU as ComfyUI reports them."
    )
    error: str | None = Field(None, description="Why it is not reachable.")
    learnt: LearntOut | None = Field(
        None,
        description="Admins only: what the scheduler has learnt of this server in this "
        "process (its speeds, its models' load times, the models it holds).",
    )


class HealthOut(BaseModel):
    model_config = examples(
        {
            "ok": True,
            "backends": [
                {
                    "name": "backend 1",
                    "url": None,
                    "reachable": True,
                    "version": "0.8.0",
                    "queue_running": 1,
                    "queue_pending": 2,
                    "devices": [{"name": "cuda:0 NVIDIA H100", "type": "cuda", "vram_free": 7e10}],
                    "error": None,
                }
            ],
        }
    )

    ok: bool = Field(description="True when at least one backend is reachable.")
    backends: list[BackendHealthOut]
