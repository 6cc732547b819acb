"""Which of a job's fast stream of snapshots to show, and when: the one place progress is
throttled (steps, previews and places in line alike).

Only the newest snapshot is ever kept, so nothing older than what the plugin holds is
ever sent. A snapshot at a new *milestone* is due at once when it shows a step not
shown yet (a sampler step, or the last one, which comes with the stage after the
sampler) or a place in line; any other new stage of a running job is due once it has
lasted the stage window (a job goes through several stages within milliseconds —
starting, loading, decoding, saving — and a user sees the one it is in). One at the
milestone last sent is an update, due when the window the last send opened ends
(longer while the job waits in line), or, when it carries a new preview, as soon as
the preview window has passed since the last preview shown. A preview goes with the
snapshot of its own step (the tracker pairs them), only when its window has passed;
otherwise the snapshot goes without it. At the job's end only a step not shown yet
still goes: its end says the rest. Nothing here sleeps or sends: the caller asks
:meth:`ProgressThrottle.due_at` when to come back and :meth:`ProgressThrottle.take`
what to send. Pure: no I/O, no asyncio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from comfyui_pipe.comfy.events import Preview

from .snapshot import ProgressSnapshot
from .stage import Stage

STEP_WINDOW = 0.5
"""Seconds between two sends within one stage and step."""
STAGE_WINDOW = 0.1
"""Seconds a running job's new stage (not a step) lasts before it is shown: one that a
newer stage or step replaces sooner never is."""
WAITING_WINDOW = 2.0
"""Seconds between two sends of a waiting job's place in line."""
PREVIEW_WINDOW = 1.0
"""Seconds between two previews shown."""

WAITING_STAGES = frozenset({Stage.WAITING, Stage.QUEUED})

Milestone = tuple[Stage, int | None]


def milestone(snapshot: ProgressSnapshot) -> Milestone:
    """What a user must see: a new stage, a new step."""
    return snapshot.stage, snapshot.step


class ProgressThrottle:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        step_window: float = STEP_WINDOW,
        stage_window: float = STAGE_WINDOW,
        waiting_window: float = WAITING_WINDOW,
        preview_window: float = PREVIEW_WINDOW,
        previews: bool = True,
    ) -> None:
        self._clock = clock
        self._step_window = step_window
        self._stage_window = stage_window
        self._waiting_window = waiting_window
        self._preview_window = preview_window
        self._previews = previews
        self._newest: ProgressSnapshot | None = None
        self._sent_milestone: Milestone | None = None
        self._sent_at = float("-inf")
        self._held_since = float("-inf")
        """When the milestone held was first offered."""
        self._preview_shown: Preview | None = None
        self._preview_shown_at = float("-inf")

    def offer(self, snapshot: ProgressSnapshot) -> None:
        """Hold ``snapshot``; it replaces whatever was held and not sent yet."""
        if self._newest is None or milestone(self._newest) != milestone(snapshot):
            self._held_since = self._clock()
        self._newest = snapshot

    def now(self) -> float:
        """The throttle's clock."""
        return self._clock()

    def due_at(self) -> float | None:
        """When the held snapshot is to be sent (clock time, maybe past); None: none held."""
        if self._newest is None:
            return None
        if self._new_milestone():
            settles = self._newest.stage not in WAITING_STAGES and not self._new_step(self._newest)
            return self._held_since + self._stage_window if settles else float("-inf")
        due = self._sent_at + self._window()
        if self._new_preview():
            due = min(due, self._preview_shown_at + self._preview_window)
        return due

    def urgent(self) -> bool:
        """Whether the held snapshot is news that cannot wait once due: a new milestone, or
        a new preview whose window has passed (not merely a newer state of the same step)."""
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
        """At the end of the job: the held snapshot, due or not, if it is a step not shown
        yet (every step is shown); a stage or an update the end makes moot is dropped."""
        if self._newest is None or not self._new_step(self._newest):
            self._newest = None
            return None
        return self._send()

    def _new_milestone(self) -> bool:
        return self._newest is not None and self._is_new(self._newest)

    def _is_new(self, snapshot: ProgressSnapshot) -> bool:
        return milestone(snapshot) != self._sent_milestone

    def _new_step(self, snapshot: ProgressSnapshot) -> bool:
        """Whether ``snapshot`` shows a step not shown yet: a new sampler step, or another
        stage that carries one (the last step comes with the stage after the sampler)."""
        sent_step = self._sent_milestone[1] if self._sent_milestone is not None else None
        return snapshot.step is not None and snapshot.step != sent_step

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
