"""Every kind of output the real ComfyUI's own nodes make — a PNG, an animated WEBP, an
MP4 from CreateVideo, a FLAC and a text — goes through to Open WebUI's files with its
content type and is shown in the chat answer. Model-free graphs, checked against the
real ``/object_info`` on upload."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import av
import httpx
import pytest
from comfyui_real import RealComfyUI
from PIL import Image

from openwebui.harness import Account, wait_for_published_models
from openwebui.real_comfyui import REAL_TIMEOUT
from openwebui.test_api_admin import API
from openwebui.test_chat import api, saved_message, send_chat, socket_for

__all__ = ["api", "socket_for"]  # fixtures shared with the chat tests

pytestmark = pytest.mark.real_comfyui

TEXT = "Line one of the answer\nLine two, with `ticks`"
FRAME_SIZE = (48, 32)
ORANGE, BLUE = 0xFF8800, 0x0044FF


def _frames(count: int, color: int) -> dict[str, Any]:
    width, height = FRAME_SIZE
    inputs = {"width": width, "height": height, "batch_size": count, "color": color}
    return {"class_type": "EmptyImage", "inputs": inputs}


def _clip(saver: dict[str, Any]) -> dict[str, Any]:
    """Six frames, three orange then three blue (an encoder merges equal neighbours),
    into ``saver`` (its input ``images`` wired to them)."""
    return {
        "1": _frames(3, ORANGE),
        "2": _frames(3, BLUE),
        "3": {"class_type": "ImageBatch", "inputs": {"image1": ["1", 0], "image2": ["2", 0]}},
        "4": {**saver, "inputs": {**saver["inputs"], "images": ["3", 0]}},
    }


def _image(prefix: str) -> dict[str, Any]:
    return {
        "1": _frames(1, ORANGE),
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def _animation(prefix: str) -> dict[str, Any]:
    inputs = {
        "filename_prefix": prefix,
        "fps": 6.0,
        "lossless": False,
        "quality": 80,
        "method": "default",
    }
    return _clip({"class_type": "SaveAnimatedWEBP", "inputs": inputs})


def _video(prefix: str) -> dict[str, Any]:
    graph = _clip({"class_type": "CreateVideo", "inputs": {"fps": 6.0}})
    graph["5"] = {
        "class_type": "SaveVideo",
        "inputs": {
            "video": ["4", 0],
            "filename_prefix": f"video/{prefix}",
            "format": "auto",
            "codec": "auto",
        },
    }
    return graph


def _audio(prefix: str) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyAudio",
            "inputs": {"duration": 1.0, "sample_rate": 44100, "channels": 1},
        },
        "2": {
            "class_type": "SaveAudio",
            "inputs": {"audio": ["1", 0], "filename_prefix": f"audio/{prefix}"},
        },
    }


def _text(prefix: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": f"{TEXT}\n{prefix}"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }


def _is_png(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return image.format == "PNG" and image.size == FRAME_SIZE


def _is_orange_then_blue_animated_webp(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        first = image.convert("RGB").getpixel((0, 0))
        image.seek(image.n_frames - 1)
        last = image.convert("RGB").getpixel((0, 0))
        return (
            image.format == "WEBP"
            and image.is_animated
            and _near(first, ORANGE)
            and _near(last, BLUE)
        )


def _near(pixel: Any, color: int) -> bool:
    expected = (color >> 16, (color >> 8) & 0xFF, color & 0xFF)
    return all(abs(got - want) < 12 for got, want in zip(pixel, expected, strict=True))


def _is_six_frame_mp4(data: bytes) -> bool:
    with av.open(io.BytesIO(data)) as container:
        frames = [frame for frame in container.decode(video=0)]
    width, height = FRAME_SIZE
    return data[4:8] == b"ftyp" and [(f.width, f.height) for f in frames] == [(width, height)] * 6


@dataclass(frozen=True)
class OutputCase:
    graph: Callable[[str], dict[str, Any]]
    kind: str
    content_type: str
    looks_right: Callable[[bytes], bool]


CASES = {
    "SaveImage": OutputCase(_image, "image", "image/png", _is_png),
    "SaveAnimatedWEBP": OutputCase(
        _animation, "animated", "image/webp", _is_orange_then_blue_animated_webp
    ),
    "SaveVideo": OutputCase(_video, "video", "video/mp4", _is_six_frame_mp4),
    "SaveAudio": OutputCase(_audio, "audio", "audio/flac", lambda data: data[:4] == b"fLaC"),
    "PreviewAny": OutputCase(
        _text, "text", "text/plain", lambda data: data.decode().startswith(TEXT)
    ),
}


@dataclass(frozen=True)
class UploadedCase:
    case: OutputCase
    model: str
    prefix: str
    """The graph's own file name prefix (or text): a new graph each run, as ComfyUI
    answers a repeated one from its cache."""


@pytest.fixture(params=list(CASES))
def uploaded(
    request: pytest.FixtureRequest,
    http: httpx.Client,
    admin: Account,
    user: Account,
    real_backend: RealComfyUI,
) -> Iterator[UploadedCase]:
    """The case's graph uploaded as a chat model (checked against the real server)."""
    case = CASES[request.param]
    workflow_id = f"real_output_{case.kind}"
    prefix = f"out_{uuid.uuid4().hex[:8]}"
    upload = {"id": workflow_id, "workflow": case.graph(prefix), "meta": {"title": request.param}}
    created = http.post(f"{API}/workflows", headers=admin.headers, json=upload)
    assert created.status_code == 201, created.text
    try:
        assert created.json()["outputs"] == [case.kind]
        wait_for_published_models(http, user, model_id=f"comfyui.{workflow_id}")
        yield UploadedCase(case, f"comfyui.{workflow_id}", prefix)
    finally:
        http.delete(f"{API}/workflows/{workflow_id}", headers=admin.headers)


async def test_real_output_reaches_the_files_and_shows_in_the_chat(
    api: httpx.AsyncClient, user: Account, uploaded: UploadedCase, socket_for: Any
) -> None:
    case = uploaded.case
    recorder = await socket_for(user)

    turn = await send_chat(api, user, recorder, "make it", model=uploaded.model)
    await recorder.wait_done(turn[1], REAL_TIMEOUT)

    saved = await saved_message(api, user, turn)
    assert saved["content"].startswith("Done in"), saved["content"]
    [stored] = saved["files"]
    content = await api.get(stored["url"], headers=user.headers)
    assert content.status_code == 200
    assert content.headers["content-type"].startswith(case.content_type)
    assert case.looks_right(content.content), content.content[:64]
    shown = saved["content"]
    if case.kind in ("video", "audio"):
        assert f"<{case.kind}>\n{stored['url']}\n</{case.kind}>" in shown, shown
    elif case.kind == "text":
        assert TEXT in shown and uploaded.prefix in shown, shown
    else:
        assert stored["type"] == "image", stored
