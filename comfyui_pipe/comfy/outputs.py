"""Files a finished job produced, as found in history or ``executed`` events.

ComfyUI reports output files per node under a few keys: ``images`` (with
``animated: [true]`` for animated WEBP/PNG and core video nodes), ``gifs``
(VideoHelperSuite's ``VHS_VideoCombine``, whatever its format), ``video``/``videos``
and ``audio``. ``text`` (``PreviewAny``, ``SaveText``) carries strings, not files:
each becomes a text output whose bytes are the string itself.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

OutputKind = Literal["image", "animated", "video", "audio", "gif", "text"]

_FILE_KEYS = ("images", "gifs", "video", "videos", "audio")
_CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".opus": "audio/opus",
}
_FILE_TYPES = ("output", "input", "temp")
TEXT_CONTENT_TYPE = "text/plain"
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class OutputRef:
    """One file on the server, addressable through ``GET /view`` (a Comfy API v2 server:
    at its ``location``) — or, for a text output, the ``text`` itself (nothing to
    download)."""

    filename: str
    subfolder: str
    type: str
    kind: OutputKind
    node_id: str
    content_type: str
    text: str | None = None
    location: str | None = None
    """A Comfy API v2 server's URL of the file (its asset's content)."""

    @property
    def unsafe_reason(self) -> str | None:
        """Why this ref must not be requested, or None when it is a plain relative name."""
        if self.type not in _FILE_TYPES:
            return f"unknown file type '{self.type}'"
        if not self.filename:
            return "empty file name"
        for part_name, value in (("file name", self.filename), ("subfolder", self.subfolder)):
            if "\x00" in value:
                return f"{part_name} contains a NUL byte"
            if value.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(value):
                return f"{part_name} '{value}' is an absolute path"
            if ".." in re.split(r"[/\\]", value):
                return f"{part_name} '{value}' leaves its folder"
        return None


def content_type_for(filename: str) -> str:
    suffix = PurePosixPath(filename).suffix.lower()
    return (
        _CONTENT_TYPES.get(suffix)
        or mimetypes.guess_type(filename)[0]
        or "application/octet-stream"
    )


def _kind_for(key: str, animated: bool, content_type: str) -> OutputKind:
    if key == "audio" or content_type.startswith("audio/"):
        return "audio"
    if content_type.startswith("video/"):
        return "video"
    if key in ("video", "videos"):
        return "video"
    if key == "gifs" or animated:
        return "gif" if content_type == "image/gif" else "animated"
    return "image"


def outputs_from_executed(output: Mapping[str, Any], node_id: str) -> list[OutputRef]:
    """The files in one node's output dict (``executed.output`` or ``history.outputs[id]``)."""
    animated = any(bool(flag) for flag in output.get("animated") or ())
    refs: list[OutputRef] = []
    for key in _FILE_KEYS:
        for item in output.get(key) or ():
            if not isinstance(item, Mapping) or not item.get("filename"):
                continue
            filename = str(item["filename"])
            content_type = content_type_for(filename)
            refs.append(
                OutputRef(
                    filename=filename,
                    subfolder=str(item.get("subfolder") or ""),
                    type=str(item.get("type") or "output"),
                    kind=_kind_for(key, animated, content_type),
                    node_id=str(node_id),
                    content_type=content_type,
                )
            )
    refs.extend(_text_outputs(output.get("text"), str(node_id)))
    return refs


def _text_outputs(texts: Any, node_id: str) -> list[OutputRef]:
    if isinstance(texts, str):
        texts = [texts]
    strings = [text for text in texts or () if isinstance(text, str)]
    return [
        OutputRef(
            filename=f"text_{node_id}" + (f"_{index + 1}" if len(strings) > 1 else "") + ".txt",
            subfolder="",
            type="output",
            kind="text",
            node_id=node_id,
            content_type=TEXT_CONTENT_TYPE,
            text=text,
        )
        for index, text in enumerate(strings)
    ]


def in_node_order(outputs: list[OutputRef]) -> list[OutputRef]:
    """``outputs`` ordered by node id (numerically, part by part for ``12:3``), each
    node's in its own order. ComfyUI's events come in execution order and its history
    in no fixed order; every owner of a job must list its outputs alike (their places
    name their files)."""
    return sorted(outputs, key=lambda ref: _node_key(ref.node_id))


def _node_key(node_id: str) -> list[tuple[int, int, str]]:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in node_id.split(":")]


def outputs_from_history(entry: Mapping[str, Any]) -> list[OutputRef]:
    """All files of one ``/history/{id}`` entry, in the entry's node order."""
    refs: list[OutputRef] = []
    for node_id, output in (entry.get("outputs") or {}).items():
        if isinstance(output, Mapping):
            refs.extend(outputs_from_executed(output, str(node_id)))
    return refs
