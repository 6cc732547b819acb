"""A job's progress as Socket.IO ``events`` in its owner's room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from comfyui_pipe.generation.records import JobRecord, progress_summary
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.host import HostEvents
from comfyui_pipe.openwebui.host_values import Emitter
from comfyui_pipe.openwebui.presenter import describe_failure
from comfyui_pipe.progress import ProgressSnapshot

JOB_EVENT = "comfyui:job"


class JobEvents:
    """The ``ProgressSink`` of a job started through the API: each snapshot the job's
    relay lets through, then the terminal record, in its owner's Socket.IO room."""

    def __init__(self, events: HostEvents, user_id: str) -> None:
        self._events = events
        self._request_info = {"user_id": user_id, "chat_id": None, "message_id": None}
        self._emit: Emitter | None = None

    async def show(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        preview = snapshot.preview
        data = job_event_data(record, progress_summary(snapshot))
        await self._send({**data, "preview": None if preview is None else preview.data_url})

    async def end(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        await self._send(job_event_data(record, record.progress or {}))

    async def _send(self, data: dict[str, Any]) -> None:
        if self._emit is None:
            self._emit = await self._events.emitter(self._request_info, persisted=False)
        await self._emit({"type": JOB_EVENT, "data": data})


def job_event_data(record: JobRecord, progress: dict[str, Any]) -> dict[str, Any]:
    """The event of ``record`` in the state ``progress`` (a ``progress_summary``)."""
    failure = describe_failure(record.failure) if record.failure is not None else None
    return {
        "id": record.id,
        "state": record.state.value,
        "stage": progress.get("stage"),
        "step": progress.get("step"),
        "steps": progress.get("steps"),
        "percent": progress.get("percent", 0.0),
        "phase": progress.get("phase"),
        "description": failure or progress.get("text"),
        "eta": progress.get("eta_seconds"),
        "attempt": record.attempt,
        "preview": None,
        "output_file_ids": record.output_file_ids,
    }
