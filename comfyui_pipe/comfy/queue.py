"""A snapshot of ComfyUI's queue, in the order the worker will take it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QueueSnapshot:
    running: list[str]
    pending: list[str]

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> QueueSnapshot:
        """Build from ``GET /queue``; its pending list is a raw heap, so sort by number."""
        return cls(
            running=_ids_by_number(body.get("queue_running") or []),
            pending=_ids_by_number(body.get("queue_pending") or []),
        )

    @property
    def total(self) -> int:
        return len(self.running) + len(self.pending)

    def position(self, prompt_id: str) -> int | None:
        """0 while running, 1..n while pending (1 runs next), None when not queued."""
        if prompt_id in self.running:
            return 0
        if prompt_id in self.pending:
            return self.pending.index(prompt_id) + 1
        return None


def _ids_by_number(items: Sequence[Any]) -> list[str]:
    # item = [number, prompt_id, prompt, extra_data, outputs_to_execute]
    entries = [item for item in items if isinstance(item, list | tuple) and len(item) >= 2]
    return [str(item[1]) for item in sorted(entries, key=lambda item: item[0])]


@dataclass(frozen=True)
class QueuePosition:
    """Where a job waits in its server's queue: 0 running, 1..n pending (1 runs next)."""

    prompt_id: str
    position: int
    total: int | None = None
