"""What a job looks like to the user at one moment."""

from __future__ import annotations

import math
from dataclasses import dataclass

from comfyui_pipe.comfy.events import Preview


@dataclass(frozen=True)
class ProgressSnapshot:
    percent: float
    """0–100; never lower than in an earlier snapshot of the same job."""
    phase: str
    step: int | None
    """Step of the latest sampler, kept while later non-sampler nodes run."""
    steps: int | None
    queue_position: int | None
    """0 running, 1..n waiting, None unknown."""
    queue_total: int | None
    eta_seconds: float | None
    """Time left for the sampler steps still to run; None until a step rate is known."""
    preview: Preview | None
    started: bool
    finished: bool
    elapsed_seconds: float
    """Since the job was tracked (queueing included); frozen once finished."""

    def describe(self) -> str:
        """One line for a chat status, e.g. ``Sampling 12/30 · 40% · ~6 s left``."""
        if not self.started or self.finished:
            return self.phase
        parts = [self.phase, f"{math.floor(self.percent)}%"]
        if self.eta_seconds is not None:
            parts.append(f"~{format_duration(self.eta_seconds)} left")
        return " · ".join(parts)


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, math.ceil(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
