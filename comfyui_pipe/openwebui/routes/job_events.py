"""A job's progress as Socket.IO ``events`` in its owner's room."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from open_webui.socket.main import get_event_emitter

from comfyui_pipe.comfy.events import Preview
from comfyui_pipe.generation.progress_relay import progress_summary
from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.generation.service import GenerationService
from comfyui_pipe.progress import ProgressSnapshot

JOB_EVENT = "comfyui:job"


class JobEvents:
    """A job's progress in its owner's Socket.IO room: each snapshot the job's
    ``ProgressRelay`` chooses (a new stage or step at once, the newest state of a step
    at the end of each window), then the terminal record."""

    def __init__(self, user_id: str) -> None:
        self._request_info = {"user_id": user_id, "chat_id": None, "message_id": None}
        self._last_preview: Preview | None = None
        self._emit: Callable[[dict[str, Any]], Awaitable[Any]] | None = None

    async def progress(self, record: JobRecord, snapshot: ProgressSnapshot) -> None:
        if snapshot.finished:
            return  # the outcome is for end(), with the stored outputs
        preview = snapshot.preview
        fresh = preview if preview is not None and preview is not self._last_preview else None
        self._last_preview = preview or self._last_preview
        await self._send(
            {
                **job_event_data(record, progress_summary(snapshot)),
                "preview": None if fresh is None else fresh.data_url,
            }
        )

    async def end(self, service: GenerationService, job_id: str) -> None:
        """Wait for the job's terminal record (bounded by the job timeout) and send it:
        the service reports progress only while the job runs on ComfyUI."""
        record = await service.wait(job_id)
        await self._send(job_event_data(record, record.progress or {}))

    async def _send(self, data: dict[str, Any]) -> None:
        if self._emit is None:
            self._emit = await get_event_emitter(self._request_info, update_db=False)
        await self._emit({"type": JOB_EVENT, "data": data})


def job_event_data(record: JobRecord, progress: dict[str, Any]) -> dict[str, Any]:
    """The event of ``record`` in the state ``progress`` (a ``progress_summary``)."""
    return {
        "id": record.id,
        "state": record.state.value,
        "stage": progress.get("stage"),
        "step": progress.get("step"),
        "steps": progress.get("steps"),
        "percent": progress.get("percent", 0.0),
        "phase": progress.get("phase"),
        "description": record.error or progress.get("text"),
        "eta": progress.get("eta_seconds"),
        "preview": None,
        "output_file_ids": record.output_file_ids,
    }
