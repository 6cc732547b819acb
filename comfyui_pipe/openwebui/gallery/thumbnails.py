"""Thumbnails of outputs, made once when an output is stored: a still image or an
animation scaled down to ``SIZE`` (animated ones stay animated, as WebP), a video's first
frame as its poster (PyAV), the first lines of a text. Sound has none. An output that
cannot be read gets none, and its output is stored all the same."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from itertools import islice
from typing import IO

import av
from PIL import Image, ImageSequence

log = logging.getLogger(__name__)

SIZE = 320
"""Pixels of a thumbnail's longer side (a grid cell on a large screen, at 2x)."""
MAX_FRAMES = 48
"""Frames kept in an animated thumbnail (a longer animation is cut short)."""
EXCERPT = 280
"""Characters of a text output shown in the grid."""
CONTENT_TYPE = "image/webp"


@dataclass(frozen=True)
class Preview:
    """What the grid shows of one output."""

    thumbnail: bytes | None = None
    width: int | None = None
    height: int | None = None
    """The output's own size (an image's or a video's), when it has one."""
    excerpt: str | None = None


def preview_of(data: IO[bytes], kind: str) -> Preview:
    """The preview of an output of ``kind`` (image, gif, animated, video, audio, text)."""
    try:
        if kind == "text":
            return Preview(excerpt=data.read(EXCERPT * 4).decode("utf-8", "replace")[:EXCERPT])
        if kind == "video":
            return _video_poster(data)
        if kind in ("image", "gif", "animated"):
            return _image_thumbnail(data)
    except Exception as error:  # a file that does not read as its kind says
        log.warning("No thumbnail for a %s output: %s", kind, error)
    return Preview()


def _image_thumbnail(data: IO[bytes]) -> Preview:
    with Image.open(data) as image:
        size = image.size
        frames = [frame.copy() for frame in islice(ImageSequence.Iterator(image), MAX_FRAMES)]
        durations = [int(frame.info.get("duration") or 100) for frame in frames]
    for frame in frames:
        frame.thumbnail((SIZE, SIZE))
    return Preview(_webp(frames, durations), *size)


def _video_poster(data: IO[bytes]) -> Preview:
    with av.open(data, mode="r") as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        image = Image.fromarray(frame.to_ndarray(format="rgb24"))
    size = image.size
    image.thumbnail((SIZE, SIZE))
    return Preview(_webp([image], []), *size)


def _webp(frames: list[Image.Image], durations: list[int]) -> bytes:
    out = io.BytesIO()
    first, rest = frames[0], frames[1:]
    if first.mode not in ("RGB", "RGBA"):
        first = first.convert("RGBA")
        rest = [frame.convert("RGBA") for frame in rest]
    if rest:
        first.save(
            out, "WEBP", quality=75, save_all=True, append_images=rest, duration=durations, loop=0
        )
    else:
        first.save(out, "WEBP", quality=80)
    return out.getvalue()
