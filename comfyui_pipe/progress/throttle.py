"""Which of a job's fast stream of snapshots to show, and when: the one place progress is
throttled (steps, previews and places in line alike).

Only the newest snapshot is ever kept, so nothing older than what the plugin holds is
ever sent. A snapshot at a new *milestone* (a new stage or a new step) is due at
once; one at the milestone last sent is an update, due when the window the last
send opened ends (longer while the job waits in line), or, when it carries a new
preview, as soon as the preview window has passed since the last preview shown. A
preview goes with the snapshot of its own step (the tracker pairs them), only when
its window has passed; otherwise the snapshot goes without it. Nothing here sleeps or
sends: the caller asks :meth:`ProgressThrottle.due_at` when to come back and
:meth:`ProgressThrottle.take` what to send. Pure: no I/O, no asyncio.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import replace

from comfyui_pipe.comfy.events import Preview

from .snapshot import ProgressSnapshot
from .stage import Stage

STEP_WINDOW = 0.5
"""Seconds between two sends within one stage and step."""
WAITING_WINDOW = 2.0
"""Seconds between two sends of a waiting job's place in line."""
PREVIEW_WINDOW = 1.0
"""Seconds between two previews shown."""

WAITING_STAGES = frozenset({Stage.WAITING, Stage.QUEUED})
_NOTHING_SENT = object()


def milestone(snapshot: ProgressSnapshot) -> Hashable:
    """What a user must see at once: a new stage, a new step."""
    return snapshot.stage, snapshot.step


class ProgressThrottle:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        step_window: float = STEP_WINDOW,
        waiting_window: float = WAITING_WINDOW,
        preview_window: float = PREVIEW_WINDOW,
        previews: bool = True,
    ) -> None:
        self._clock = clock
        self._step_window = step_window
        self._waiting_window = waiting_window
        self._preview_window = preview_window
        self._previews = previews
        self._newest: ProgressSnapshot | None = None
        self._sent_milestone: Hashable = _NOTHING_SENT
        self._sent_at = float("-inf")
        self._preview_shown: Preview | None = None
        self._preview_shown_at = float("-inf")

    def offer(self, snapshot: ProgressSnapshot) -> None:
        """Hold ``snapshot``; it replaces whatever was held and not sent yet."""
        self._newest = snapshot

    def now(self) -> float:
        """The throttle's clock."""
        return self._clock()

    def due_at(self) -> float | None:
        """When the held snapshot is to be sent (clock time, maybe past); None: none held."""
        if self._newest is None:
            return None
        if self._new_milestone():
            return float("-inf")
        due = self._sent_at + self._window()
        if self._new_preview():
            due = min(due, self._preview_shown_at + self._preview_window)
        return due

    def urgent(self) -> bool:
        """Whether the held snapshot is news that cannot wait: a new milestone, or a new
        preview whose window has passed (not merely a newer state of the same step)."""
        return self._new_milestone() or (self._new_preview() and self._preview_due())

    def waiting(self) -> bool:
        """Whether the held snapshot is a place in line (the job has not started)."""
        return self._newest is not None and self._newest.stage in WAITING_STAGES

    def take(self) -> ProgressSnapshot | None:
        """The snapshot to send now, if one is due; it counts as sent."""
        due = self.due_at()
        if due is None or self._clock() < due:
            return None
        return self._send()

    def take_last(self) -> ProgressSnapshot | None:
        """The held snapshot whether due or not, for the end of the job."""
        return self._send() if self._newest is not None else None

    def _new_milestone(self) -> bool:
        return self._newest is not None and milestone(self._newest) != self._sent_milestone

    def _new_preview(self) -> bool:
        preview = self._newest.preview if self._newest is not None else None
        return self._previews and preview is not None and preview is not self._preview_shown

    def _window(self) -> float:
        return self._waiting_window if self.waiting() else self._step_window

    def _preview_due(self) -> bool:
        return self._clock() - self._preview_shown_at >= self._preview_window

    def _send(self) -> ProgressSnapshot:
        snapshot = self._newest
        assert snapshot is not None
        shows_preview = self._new_preview() and self._preview_due()
        now = self._clock()
        self._newest = None
        self._sent_milestone, self._sent_at = milestone(snapshot), now
        if shows_preview:
            self._preview_shown, self._preview_shown_at = snapshot.preview, now
            return snapshot
        return replace(snapshot, preview=None) if snapshot.preview is not None else snapshot
