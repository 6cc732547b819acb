"""A finished job as OpenAI's images answer: each image it stored, as a link to the
stored file or as the image itself (base64), and the events of a streamed answer."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.host import HostFiles

from .asks import ResponseFormat

FORMATS: Mapping[str, str] = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
"""OpenAI's ``output_format`` of each image type it names."""
NO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}
"""A workflow counts no tokens; the field is there for clients that read it."""


def images_of(files: Sequence[StoredFile]) -> list[StoredFile]:
    """The stored outputs that are images (a workflow may also keep text or sound)."""
    return [file for file in files if file.content_type.startswith("image/")]


async def file_bytes(files: HostFiles, file_id: str) -> bytes:
    file = await files.get(file_id)
    if file is None or not file.path:
        raise FileNotFoundError(file_id)
    local = await files.local_path(file.path)
    return await asyncio.to_thread(local.read_bytes)


async def images_answer(
    files: HostFiles,
    images: Sequence[StoredFile],
    response_format: ResponseFormat,
    base_url: str,
) -> dict[str, Any]:
    """OpenAI's ``ImagesResponse`` for ``images``."""
    data: list[dict[str, str]] = []
    for image in images:
        if response_format == "url":
            data.append({"url": base_url + image.url})
        else:
            encoded = base64.b64encode(await file_bytes(files, image.id)).decode("ascii")
            data.append({"b64_json": encoded})
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    formats = {FORMATS.get(image.content_type) for image in images}
    if len(formats) == 1 and None not in formats:
        answer["output_format"] = formats.pop()
    return answer


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event, as OpenAI's streams send them."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def image_event(kind: str, image: bytes, content_type: str, **fields: Any) -> dict[str, Any]:
    """An ``image_generation.*`` / ``image_edit.*`` event's data."""
    return {
        "type": kind,
        "b64_json": base64.b64encode(image).decode("ascii"),
        "created_at": int(time.time()),
        "output_format": FORMATS.get(content_type, "png"),
        "size": "auto",
        "quality": "auto",
        "background": "auto",
        **fields,
    }
