"""A job's progress as Socket.IO ``events`` in its owner's room."""

from __future__ import annotations

import time
from typing import Any

from open_webui.socket.main import get_event_emitter

from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.generation.service import GenerationService
from comfyui_pipe.progress import ProgressSnapshot

JOB_EVENT = "comfyui:job"
JOB_EVENT_INTERVAL = 0.5


class JobEvents:
    """A job's progress in its owner's Socket.IO room: every change of state at once,
    progress within a state at most every ``interval`` seconds, and the end."""

    def __init__(self, user_id: str, interval: float = JOB_EVENT_INTERVAL) -> None:
        self._request_info = {"user_id": user_id, "chat_id": None, "message_id": None}
        self._interval = interval
        self._last_state: str | None = None
        self._last_sent_at = float("-inf")

    async def progress(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        now = time.monotonic()
        if record.state == self._last_state and now - self._last_sent_at < self._interval:
            return
        self._last_state, self._last_sent_at = record.state, now
        await self._send(record)

    async def end(self, service: GenerationService, job_id: str) -> None:
        """Wait for the job's terminal record (bounded by the job timeout) and send it:
        the service reports progress only while the job runs on ComfyUI."""
        await self._send(await service.wait(job_id))

    async def _send(self, record: JobRecord) -> None:
        emit = await get_event_emitter(self._request_info, update_db=False)
        await emit({"type": JOB_EVENT, "data": job_event_data(record)})


def job_event_data(record: JobRecord) -> dict[str, Any]:
    progress = record.progress or {}
    return {
        "id": record.id,
        "state": record.state.value,
        "percent": progress.get("percent", 0.0),
        "phase": progress.get("phase"),
        "description": record.error or progress.get("text"),
        "eta": progress.get("eta_seconds"),
        "output_file_ids": record.output_file_ids,
    }
