"""Bodies of the servers and queue routes (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .schemas import RequestBody, examples


class QueueItemOut(BaseModel):
    id: str
    owner_id: str
    owner_name: str | None = Field(None, description="Shown to admins only.")
    workflow: str
    state: str = Field(description="queued or running.")
    stage: str | None = Field(None, description="waiting, queued, loading, sampling, …")
    activity: str | None = Field(None, description="The stage in words, e.g. 'Sampling 3/20'.")
    percent: float = 0.0
    place: int | None = Field(
        None, description="Place in line among the jobs not started yet (1 = next)."
    )
    server: str | None = Field(None, description="'server 2': the ComfyUI it was sent to.")
    prompt: str | None = None
    created_at: datetime


class QueueOut(BaseModel):
    model_config = examples(
        {
            "items": [
                {
                    "id": "0b5e…",
                    "owner_id": "u1",
                    "owner_name": "Ada",
                    "workflow": "sd15_txt2img",
                    "state": "running",
                    "stage": "sampling",
                    "activity": "Sampling 3/20",
                    "percent": 15.0,
                    "place": None,
                    "server": "server 1",
                    "prompt": "a red fox",
                    "created_at": "2025-01-01T12:00:00Z",
                }
            ]
        }
    )

    items: list[QueueItemOut] = Field(description="Unfinished jobs, oldest first.")


class ServerJobOut(BaseModel):
    id: str
    owner_name: str | None = None
    workflow: str
    state: str
    activity: str | None = None
    percent: float = 0.0


class ServerOut(BaseModel):
    id: str = Field(description="Stable id of the server, from its URL.")
    name: str = Field(description="'server 1', 'server 2', … in the order configured.")
    url: str
    reachable: bool
    drained: bool = Field(description="Takes no new jobs; finishes those it has.")
    version: str | None = None
    queue_running: int = 0
    queue_pending: int = 0
    devices: list[dict[str, Any]] = Field(
        default_factory=list, description="GPUs / CPU as ComfyUI reports them (memory too)."
    )
    error: str | None = Field(None, description="Why it is not reachable.")
    models_folder: str | None = Field(
        None, description="Where this Open WebUI writes its models (downloads), if anywhere."
    )
    jobs: list[ServerJobOut] = Field(
        default_factory=list, description="Our jobs on it now (running and pending)."
    )


class ServersOut(BaseModel):
    model_config = examples(
        {
            "servers": [
                {
                    "id": "3f2a9c1d0b7e",
                    "name": "server 1",
                    "url": "http://comfyui:8188",
                    "reachable": True,
                    "drained": False,
                    "version": "0.3.33",
                    "queue_running": 1,
                    "queue_pending": 0,
                    "devices": [{"name": "cpu", "type": "cpu", "vram_total": 0}],
                    "error": None,
                    "models_folder": "/comfyui-models",
                    "jobs": [],
                }
            ]
        }
    )

    servers: list[ServerOut]


class ServerIn(RequestBody):
    model_config = examples({"url": "http://comfyui-gpu1:8188"})

    url: str = Field(
        min_length=1, max_length=2000, description="The ComfyUI base URL, http:// or https://."
    )


class DrainIn(RequestBody):
    model_config = examples({"drained": True})

    drained: bool = Field(description="True: take no new jobs; false: take them again.")
