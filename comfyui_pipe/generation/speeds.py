"""How fast each ComfyUI server runs our jobs, learnt from the jobs it ran.

A job's *work* is its sampler steps. A server's speed is the seconds one step
took there (model loading left out: see ``StepRate``), a moving average over its
recent jobs, so a server that slows down (another model loaded, a busier GPU) is
seen doing so. A job without a sampler counts as one step. Pure: fed by the
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
    """Seconds per sampler step on each server, once it has run a job's steps."""

    def __init__(self) -> None:
        self._per_step: dict[str, float] = {}

    def observe(self, url: str, seconds_per_step: float) -> None:
        """A job's steps took ``seconds_per_step`` each on ``url``."""
        if seconds_per_step <= 0:
            return
        known = self._per_step.get(url)
        self._per_step[url] = (
            seconds_per_step if known is None else known + SMOOTHING * (seconds_per_step - known)
        )

    def seconds(self, url: str, work: int) -> float | None:
        """Expected seconds for ``work`` steps (at least one) on ``url``; None until it
        ran a job's steps."""
        per_step = self._per_step.get(url)
        return None if per_step is None else per_step * max(work, 1)
