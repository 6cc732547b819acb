"""How fast each ComfyUI server runs our jobs, learnt from the jobs it ran.

A job's *work* is its sampler steps. A server's speed is the seconds one step
took there, a moving average over its recent jobs with steps, so a server that
slows down (another model loaded, a busier GPU) is seen doing so; a job without
a sampler says little about speed and is counted as one step. Pure: fed by the
service.
"""

from __future__ import annotations

from comfyui_pipe.progress.weights import estimated_steps
from comfyui_pipe.workflow.graph import Graph

SMOOTHING = 0.3
"""Weight of the newest job in a server's average."""


def work_of(prompt: Graph) -> int:
    """The units of work of a prompt: its sampler steps."""
    return sum(estimated_steps(prompt).values())


class ServerSpeeds:
    """Seconds per unit of work on each server, once it has finished a job."""

    def __init__(self) -> None:
        self._per_unit: dict[str, float] = {}

    def observe(self, url: str, work: int, seconds: float) -> None:
        """``url`` ran ``work`` units in ``seconds`` (from start to end on ComfyUI); a job
        without steps is not counted."""
        if seconds <= 0 or work <= 0:
            return
        sample = seconds / work
        known = self._per_unit.get(url)
        self._per_unit[url] = sample if known is None else known + SMOOTHING * (sample - known)

    def seconds(self, url: str, work: int) -> float | None:
        """Expected seconds for ``work`` units (at least one) on ``url``; None until it
        ran a job with steps."""
        per_unit = self._per_unit.get(url)
        return None if per_unit is None else per_unit * max(work, 1)
