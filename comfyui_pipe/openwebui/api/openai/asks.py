"""What an images request asks for: OpenAI's fields, and ours where a workflow has them.

``model`` names a workflow (``GET /models``); ``n`` is the number of images, ``size`` is
``WIDTHxHEIGHT`` (or ``auto``: the workflow's own). ``negative_prompt``, ``steps``,
``cfg`` and ``seed`` are accepted like ``POST /generate``'s, and refused with the
workflow's own sentence where it has no place for them. OpenAI fields that have no
meaning for a ComfyUI workflow (``quality``, ``style``, ``background``, ``moderation``,
``output_format``, ``output_compression``, ``input_fidelity``, ``user``) are accepted and
change nothing; any other field is refused, naming it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from comfyui_pipe.generation.options import RequestOptions
from comfyui_pipe.openwebui.api.schemas import RequestBody
from comfyui_pipe.workflow import MAX_RANDOM_SEED

_SIZE = re.compile(r"^([1-9]\d{0,4})x([1-9]\d{0,4})$")
MAX_PARTIAL_IMAGES = 3
ResponseFormat = Literal["url", "b64_json"]


class ImageAsk(RequestBody):
    """The fields of ``/images/generations`` (JSON) and ``/images/edits`` (a form)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt: str = Field(min_length=1, description="What to make, or how to change the image.")
    model: str | None = Field(
        None,
        description="A workflow id from GET /models; left out, the admin's default workflow "
        "when it fits, else the first workflow you may use that does.",
    )
    n: int | None = Field(None, ge=1, description="Number of images (the admin's max_count).")
    size: str | None = Field(
        None, description="WIDTHxHEIGHT, e.g. 1024x1024; 'auto' or left out: the workflow's."
    )
    response_format: ResponseFormat = Field(
        "url",
        description="url: a link to the stored file (GET it with the same key); b64_json: "
        "the image itself.",
    )
    stream: bool = Field(False, description="Server-sent events: previews, then the images.")
    partial_images: int = Field(
        0,
        ge=0,
        le=MAX_PARTIAL_IMAGES,
        description="With stream: how many live previews to send before the images (0–3).",
    )
    negative_prompt: str | None = Field(None, description="What to keep out of the image.")
    steps: int | None = Field(None, ge=1, description="Sampler steps.")
    cfg: float | None = Field(None, ge=0, description="CFG scale / guidance.")
    seed: int | None = Field(
        None, ge=0, le=MAX_RANDOM_SEED, description="Seed; random when left out."
    )
    user: str | None = Field(None, description="Accepted; changes nothing.")
    quality: str | None = Field(None, description="Accepted; changes nothing.")
    style: str | None = Field(None, description="Accepted; changes nothing.")
    background: str | None = Field(None, description="Accepted; changes nothing.")
    moderation: str | None = Field(None, description="Accepted; changes nothing.")
    output_format: str | None = Field(None, description="Accepted; the answer says the format.")
    output_compression: int | None = Field(None, description="Accepted; changes nothing.")
    input_fidelity: str | None = Field(None, description="Accepted; changes nothing.")

    @field_validator("size")
    @classmethod
    def _size(cls, size: str | None) -> str | None:
        if size is not None and size != "auto" and not _SIZE.match(size):
            raise ValueError("Write the size as WIDTHxHEIGHT, e.g. 1024x1024, or auto")
        return size

    def options(self) -> RequestOptions:
        width, height = self.dimensions or (None, None)
        return RequestOptions(
            width=width,
            height=height,
            steps=self.steps,
            cfg=self.cfg,
            seed=self.seed,
            count=self.n,
            negative_prompt=self.negative_prompt,
        )

    @property
    def dimensions(self) -> tuple[int, int] | None:
        found = _SIZE.match(self.size or "")
        return (int(found.group(1)), int(found.group(2))) if found else None
