"""Bodies of the generations routes: a user's outputs, page by page (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GenerationOut(BaseModel):
    id: str = Field(description="The output's Open WebUI file id.")
    job_id: str
    workflow: str
    kind: str = Field(description="image, animated, gif, video, audio or text.")
    content_type: str
    name: str
    size: int = Field(description="Bytes.")
    prompt: str | None = None
    created_at: datetime
    width: int | None = None
    height: int | None = None
    excerpt: str | None = Field(None, description="The start of a text output.")
    url: str = Field(description="The file itself (Open WebUI's file route).")
    thumbnail_url: str | None = Field(None, description="A small WebP, cached by browsers.")
    chat_id: str | None = None
    chat_url: str | None = Field(None, description="The chat it was made in, in Open WebUI.")


class GenerationDetailOut(GenerationOut):
    params: dict[str, Any] = Field(
        default_factory=dict, description="What made it: workflow parameters, seed included."
    )


class GenerationsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "6f1c…",
                            "job_id": "a3e…",
                            "workflow": "sd15_txt2img",
                            "kind": "image",
                            "content_type": "image/png",
                            "name": "ComfyUI_00001_.png",
                            "size": 412345,
                            "prompt": "a red fox in the snow",
                            "created_at": "2025-01-01T12:00:00Z",
                            "width": 512,
                            "height": 512,
                            "excerpt": None,
                            "url": "/api/v1/files/6f1c…/content",
                            "thumbnail_url": "/api/v1/comfyui/generations/6f1c…/thumbnail",
                            "chat_id": "c1",
                            "chat_url": "/c/c1",
                        }
                    ],
                    "next": "1735732800.0~6f1c…",
                }
            ]
        }
    )

    items: list[GenerationOut] = Field(description="Newest first.")
    next: str | None = Field(None, description="Pass as `after` for the next page.")
