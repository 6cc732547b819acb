"""What a job looks like to the user at one moment, and the only words for it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from comfyui_pipe.comfy.events import Preview

from .stage import Stage

_STAGE_WORDS = {
    Stage.WAITING: "Waiting for ComfyUI",
    Stage.STARTING: "Starting",
    Stage.LOADING: "Loading model",
    Stage.ENCODING: "Encoding image",
    Stage.DECODING: "Decoding",
    Stage.UPSCALING: "Upscaling",
    Stage.SAVING: "Saving",
    Stage.DONE: "Done",
    Stage.FAILED: "Failed",
    Stage.CANCELLED: "Cancelled",
}


@dataclass(frozen=True)
class ProgressSnapshot:
    percent: float
    """0–100; never lower than in an earlier snapshot of the same job."""
    stage: Stage
    step: int | None
    """Step of the latest sampler, kept while later non-sampler nodes run."""
    steps: int | None
    queue_position: int | None
    """0 running, 1..n waiting, None unknown."""
    queue_total: int | None
    eta_seconds: float | None
    """Seconds left: while sampling, for the steps still to run at their pace; before, the
    scheduler's plan for the whole job; None when neither is known."""
    preview: Preview | None
    started: bool
    elapsed_seconds: float
    """Since the job was tracked (queueing included); frozen once finished."""
    node_title: str | None = None
    """The running node's title, for the ``RUNNING`` stage."""
    jobs_ahead: int | None = None
    """Before it starts: the jobs the plan runs before it on its server."""
    attempt: int = 1
    """Which run of the job this is (more than one after ComfyUI lost a run)."""
    attempts: int = 1
    """The runs it may have in all."""

    @property
    def finished(self) -> bool:
        return self.stage.finished

    @property
    def activity(self) -> str:
        """A short phrase for the stage, e.g. ``Sampling 12/30`` or ``Queued (#2 of 3)``."""
        if self.stage is Stage.SAMPLING:
            return f"Sampling {self.step or 0}/{self.steps or 0}"
        if self.stage is Stage.QUEUED:
            of_total = f" of {self.queue_total}" if self.queue_total else ""
            return f"Queued (#{self.queue_position}{of_total})"
        if self.stage is Stage.RUNNING:
            return f"Running {self.node_title or 'a node'}"
        return _STAGE_WORDS[self.stage]

    def describe(self) -> str:
        """One line for a chat status, e.g. ``Sampling 12/30 · 40% · ~6 s left`` or
        ``Queued (#2 of 5) · ~40 s, after 2 jobs``; a job run again after ComfyUI lost it
        says so until it ends."""
        if self.finished:
            return self.activity
        again = f"attempt {self.attempt} of {self.attempts}" if self.attempt > 1 else None
        if not self.started:
            if again is not None:
                parts = [f"ComfyUI restarted — running again ({again})"]
                parts += [self.activity] if (self.queue_position or 0) > 1 else []
                return " · ".join(parts)
            if self.eta_seconds is None:
                return self.activity
            return f"{self.activity} · ~{format_duration(self.eta_seconds)}{self._after()}"
        parts = [self.activity, f"{math.floor(self.percent)}%"]
        if self.eta_seconds is not None:
            parts.append(f"~{format_duration(self.eta_seconds)} left")
        return " · ".join(parts + ([again] if again is not None else []))

    def _after(self) -> str:
        if not self.jobs_ahead:
            return ""
        return f", after {self.jobs_ahead} job{'s' if self.jobs_ahead > 1 else ''}"


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, math.ceil(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
