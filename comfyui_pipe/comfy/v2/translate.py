"""A v2 job's events and states in the engine's terms: the same events a native server's
socket gives (so progress, previews and places in line show the same), and its end as a
``JobOutcome``.

``progress`` (a complete snapshot: the running node, its step of its steps) becomes
``Executing`` when the node changes and ``Progress``; ``preview`` (a base64 JPEG)
becomes ``Preview``; a job's ``queue_position`` a ``QueuePosition``. The end is read
from the job itself (``GET /jobs/{id}``): its outputs (assets, with their URLs), its
error, cancelled, or expired (the server no longer has it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from ..events import Event, Executing, Preview, Progress
from ..outcome import Ending, JobOutcome, NodeFailure
from ..outputs import OutputKind, OutputRef, in_node_order
from ..queue import QueuePosition
from .sse import ServerEvent

QUEUED, RUNNING, EXPIRED = "queued", "running", "expired"
TERMINAL = frozenset({"succeeded", "canceled", "failed", EXPIRED})
_KINDS: Mapping[str, OutputKind] = {"image": "image", "video": "video", "audio": "audio"}
"""The v2 output types that are files we keep (``text``, ``file``, ``latent``: not)."""


class LiveEvents:
    """One job's live events, translated; remembers the node that runs."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._node: str | None = None

    def translated(self, event: ServerEvent) -> list[Event]:
        if event.name == "progress":
            return self._progress(event.data)
        if event.name == "preview":
            preview = _preview(self.job_id, event.data)
            return [] if preview is None else [preview]
        return []

    def _progress(self, data: Mapping[str, Any]) -> list[Event]:
        node = data.get("current_node")
        if not isinstance(node, str) or not node:
            return []
        events: list[Event] = []
        if node != self._node:
            self._node = node
            events.append(Executing(self.job_id, node))
        step, steps = data.get("step"), data.get("steps")
        if isinstance(step, int) and isinstance(steps, int) and steps > 0:
            events.append(Progress(self.job_id, node, step, steps))
        return events


def place_in_line(job: Mapping[str, Any]) -> QueuePosition | None:
    position = job.get("queue_position")
    if job.get("status") != QUEUED or not isinstance(position, int):
        return None
    return QueuePosition(str(job.get("id")), position)


def outcome_of(job: Mapping[str, Any], cancelling: bool = False) -> JobOutcome:
    """How a job that is over ended (``cancelling``: we asked for its cancel, so a job the
    server dropped from its queue was cancelled, not lost)."""
    job_id, status = str(job.get("id")), job.get("status")
    if status == "succeeded":
        outputs = outputs_of(job)
        ending = Ending.SUCCEEDED if outputs else Ending.NO_OUTPUT
        return JobOutcome(job_id, ending, tuple(in_node_order(outputs)))
    if status == "failed":
        found = job.get("error")
        error: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        failure = NodeFailure(
            _text(error.get("node_id")),
            _text(error.get("class_type")),
            str(error.get("code") or ""),
            str(error.get("message") or ""),
        )
        return JobOutcome(job_id, Ending.FAILED, failure=failure)
    if status == "canceled" or cancelling:
        return JobOutcome(job_id, Ending.INTERRUPTED)
    return JobOutcome(job_id, Ending.LOST)


def outputs_of(job: Mapping[str, Any]) -> list[OutputRef]:
    refs = []
    for output in job.get("outputs") or []:
        kind = _KINDS.get(str(output.get("type"))) if isinstance(output, Mapping) else None
        if kind is None or not output.get("url"):
            continue
        refs.append(
            OutputRef(
                filename=str(output.get("name") or "output"),
                subfolder="",
                type="output",
                kind=kind,
                node_id=str(output.get("node_id") or ""),
                content_type=str(output.get("content_type") or ""),
                location=str(output["url"]),
            )
        )
    return refs


def _preview(job_id: str, data: Mapping[str, Any]) -> Preview | None:
    try:
        image = base64.b64decode(str(data.get("data_base64") or ""), validate=True)
    except binascii.Error:
        return None
    if not image:
        return None
    content_type = str(data.get("content_type") or "image/jpeg")
    return Preview(image, content_type, job_id, _text(data.get("node_id")))


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
