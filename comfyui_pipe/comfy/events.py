"""Typed ComfyUI WebSocket events and the decoding of text and binary frames."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

PREVIEW_IMAGE = 1
UNENCODED_PREVIEW_IMAGE = 2
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4

_PREVIEW_FORMATS = {1: "image/jpeg", 2: "image/png"}


@dataclass(frozen=True)
class Status:
    queue_remaining: int
    prompt_id: str | None = None


@dataclass(frozen=True)
class FeatureFlags:
    flags: dict[str, Any]
    prompt_id: str | None = None


@dataclass(frozen=True)
class ExecutionStart:
    prompt_id: str


@dataclass(frozen=True)
class ExecutionCached:
    prompt_id: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Executing:
    prompt_id: str | None
    node: str | None


@dataclass(frozen=True)
class Progress:
    prompt_id: str | None
    node: str | None
    value: int
    max: int


@dataclass(frozen=True)
class ProgressState:
    prompt_id: str
    nodes: dict[str, Any]


@dataclass(frozen=True)
class Executed:
    prompt_id: str
    node: str
    output: dict[str, Any]


@dataclass(frozen=True)
class ExecutionSuccess:
    prompt_id: str


@dataclass(frozen=True)
class ExecutionError:
    prompt_id: str
    node_id: str | None
    node_type: str | None
    exception_type: str
    exception_message: str

    @property
    def blocked(self) -> bool:
        """``ExecutionBlocked`` only stops one branch; the prompt goes on."""
        return self.exception_type.rsplit(".", 1)[-1] == "ExecutionBlocked"

    @classmethod
    def from_data(cls, prompt_id: str, data: Mapping[str, Any]) -> ExecutionError:
        """From the ``execution_error`` message's data (on the socket or in history)."""
        return cls(
            prompt_id,
            _str_or_none(data.get("node_id")),
            _str_or_none(data.get("node_type")),
            str(data.get("exception_type") or ""),
            str(data.get("exception_message") or ""),
        )


@dataclass(frozen=True)
class ExecutionInterrupted:
    prompt_id: str
    node_id: str | None
    node_type: str | None


@dataclass(frozen=True)
class Preview:
    image: bytes = field(repr=False)
    image_type: str
    prompt_id: str | None = None
    node_id: str | None = None

    @cached_property
    def data_url(self) -> str:
        """The image as a ``data:`` URL, encoded once however many listeners show it."""
        return f"data:{self.image_type};base64,{base64.b64encode(self.image).decode('ascii')}"


@dataclass(frozen=True)
class Text:
    node_id: str
    text: str
    prompt_id: str | None = None


@dataclass(frozen=True)
class Unknown:
    type: str
    data: Any
    prompt_id: str | None = None


Event = (
    Status
    | FeatureFlags
    | ExecutionStart
    | ExecutionCached
    | Executing
    | Progress
    | ProgressState
    | Executed
    | ExecutionSuccess
    | ExecutionError
    | ExecutionInterrupted
    | Preview
    | Text
    | Unknown
)


def is_terminal(event: Event) -> bool:
    """Whether the event ends its prompt (history may still be being written)."""
    if isinstance(event, ExecutionError):
        return not event.blocked
    return isinstance(event, ExecutionSuccess | ExecutionInterrupted)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_text_frame(raw: str) -> Event:
    """Decode one JSON text frame; unknown or malformed types become ``Unknown``."""
    try:
        message = json.loads(raw)
    except ValueError:
        return Unknown("invalid_json", raw)
    if not isinstance(message, dict):
        return Unknown("invalid_json", message)
    kind = message.get("type", "")
    data = message.get("data")
    if not isinstance(data, dict):
        return Unknown(str(kind), data)
    prompt_id = _str_or_none(data.get("prompt_id"))
    try:
        return _decode(kind, data, prompt_id)
    except (KeyError, TypeError, ValueError):
        return Unknown(str(kind), data, prompt_id)


def _decode(kind: str, data: dict[str, Any], prompt_id: str | None) -> Event:
    if kind == "status":
        exec_info = (data.get("status") or {}).get("exec_info") or {}
        return Status(int(exec_info.get("queue_remaining", 0)))
    if kind == "feature_flags":
        return FeatureFlags(dict(data))
    if kind == "executing":
        return Executing(prompt_id, _str_or_none(data.get("node")))
    if kind == "progress":
        return Progress(
            prompt_id, _str_or_none(data.get("node")), int(data["value"]), int(data["max"])
        )
    if prompt_id is None:
        return Unknown(kind, data)
    if kind == "execution_start":
        return ExecutionStart(prompt_id)
    if kind == "execution_cached":
        return ExecutionCached(prompt_id, tuple(str(n) for n in data.get("nodes") or ()))
    if kind == "progress_state":
        return ProgressState(prompt_id, dict(data.get("nodes") or {}))
    if kind == "executed":
        return Executed(prompt_id, str(data["node"]), dict(data.get("output") or {}))
    if kind == "execution_success":
        return ExecutionSuccess(prompt_id)
    if kind == "execution_error":
        return ExecutionError.from_data(prompt_id, data)
    if kind == "execution_interrupted":
        return ExecutionInterrupted(
            prompt_id, _str_or_none(data.get("node_id")), _str_or_none(data.get("node_type"))
        )
    return Unknown(kind, data, prompt_id)


def parse_binary_frame(frame: bytes) -> Event:
    """Decode a binary frame: ``[u32 type][payload]``, big-endian."""
    if len(frame) < 4:
        return Unknown("binary", frame)
    (event_type,) = struct.unpack(">I", frame[:4])
    body = frame[4:]
    if event_type == PREVIEW_IMAGE and len(body) >= 4:
        (image_format,) = struct.unpack(">I", body[:4])
        return Preview(body[4:], _PREVIEW_FORMATS.get(image_format, "image/jpeg"))
    if event_type == PREVIEW_IMAGE_WITH_METADATA and len(body) >= 4:
        (meta_len,) = struct.unpack(">I", body[:4])
        try:
            meta = json.loads(body[4 : 4 + meta_len])
        except ValueError:
            return Unknown("binary", frame)
        return Preview(
            body[4 + meta_len :],
            str(meta.get("image_type") or "image/jpeg"),
            _str_or_none(meta.get("prompt_id")),
            _str_or_none(meta.get("node_id")),
        )
    if event_type == TEXT and len(body) >= 4:
        (id_len,) = struct.unpack(">I", body[:4])
        node_id = body[4 : 4 + id_len].decode("utf-8", "replace")
        return Text(node_id, body[4 + id_len :].decode("utf-8", "replace"))
    return Unknown(f"binary:{event_type}", frame)
