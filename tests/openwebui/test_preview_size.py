"""Live previews are drawn at the size of the result, so the picture in the chat does
not jump when the result replaces it (ComfyUI sends its previews at its own size)."""

from __future__ import annotations

import base64
import io

from PIL import Image

from comfyui_pipe.comfy.events import Preview
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.progress import Stage
from openwebui.test_chat_progress import progress_with, snapshot


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(buffer, format="PNG")
    return buffer.getvalue()


def record(**params: object) -> JobRecord:
    return JobRecord("job", "owner", "sd15_txt2img", dict(params), JobState.RUNNING, 0.0)


async def shown_preview_size(job: JobRecord, preview: Preview) -> tuple[int, int]:
    progress, live, _ = progress_with()
    await progress.show(job, snapshot(Stage.SAMPLING, 3, preview))
    [shown] = [f for event in live if event["type"] == "files" for f in event["data"]["files"]]
    assert shown["url"].startswith(f"data:{shown['content_type']};base64,")
    encoded = shown["url"].split(",", 1)[1]
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
        return image.size


async def test_a_preview_is_drawn_at_the_size_of_the_result() -> None:
    preview = Preview(png(512, 512), "image/png")

    assert await shown_preview_size(record(width=256, height=384), preview) == (256, 384)


async def test_a_preview_keeps_its_size_while_the_result_size_is_unknown() -> None:
    preview = Preview(png(320, 192), "image/png")

    assert await shown_preview_size(record(prompt="upscale"), preview) == (320, 192)
