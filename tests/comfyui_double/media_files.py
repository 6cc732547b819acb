"""Output files the way ComfyUI's save nodes name and write them: numbered PNGs,
animated WEBP, MP4 (H.264) and WEBM (VP9) videos, FLAC audio."""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

Saved = dict[str, str]


def numbered_names(base: Path, prefix: str, kind: str, suffix: str) -> Iterator[tuple[Path, Saved]]:
    """``<prefix>_00001_.<suffix>``, … after the highest number already in the folder,
    with the ``{filename, subfolder, type}`` item ComfyUI reports for each."""
    subfolder, _, name = prefix.rpartition("/")
    folder = base / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"^{re.escape(name)}_(\d+)_")
    used = [int(match.group(1)) for path in folder.iterdir() if (match := pattern.match(path.name))]
    counter = max(used, default=0) + 1
    while True:
        filename = f"{name}_{counter:05}_.{suffix}"
        yield folder / filename, {"filename": filename, "subfolder": subfolder, "type": kind}
        counter += 1


def write_pngs(images: list[Image.Image], base: Path, prefix: str, kind: str) -> list[Saved]:
    results = []
    for image, (path, item) in zip(images, numbered_names(base, prefix, kind, "png"), strict=False):
        image.save(path, format="PNG", compress_level=4)
        results.append(item)
    return results


def write_animated_webp(frames: list[Image.Image], base: Path, prefix: str, fps: float) -> Saved:
    path, item = next(numbered_names(base, prefix, "output", "webp"))
    duration = round(1000 / fps)
    frames[0].save(path, format="WEBP", save_all=True, append_images=frames[1:], duration=duration)
    return item


_VIDEO_CODECS = {"mp4": ("libx264", "yuv420p"), "webm": ("libvpx-vp9", "yuv420p")}


def write_video(
    frames: list[Image.Image], base: Path, prefix: str, fps: float, suffix: str
) -> Saved:
    """An MP4 (H.264) or WEBM (VP9) that browsers play; sizes are rounded down to even."""
    path, item = next(numbered_names(base, prefix, "output", suffix))
    codec, pixel_format = _VIDEO_CODECS[suffix]
    width, height = frames[0].width // 2 * 2, frames[0].height // 2 * 2
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, pixel_format
        for frame in frames:
            rgb = frame.convert("RGB").crop((0, 0, width, height))
            container.mux(stream.encode(av.VideoFrame.from_image(rgb)))
        container.mux(stream.encode())
    return item


def write_flac(waveform: np.ndarray, sample_rate: int, base: Path, prefix: str) -> Saved:
    """``waveform``: float samples in [-1, 1], shape (channels, samples)."""
    path, item = next(numbered_names(base, prefix, "output", "flac"))
    pcm = (np.clip(waveform, -1, 1) * 32767).astype(np.int16)
    layout = "stereo" if pcm.shape[0] == 2 else "mono"
    with av.open(str(path), mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=sample_rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(pcm.T.reshape(1, -1).copy(), format="s16", layout=layout)
        frame.sample_rate = sample_rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return item
