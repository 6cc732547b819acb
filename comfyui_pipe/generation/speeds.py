"""How fast each ComfyUI server runs our jobs, learnt from the jobs it ran.

A job's *work* is its sampler steps. On each server a job is expected to take a
fixed time (its other nodes: encoding, decoding, saving) plus its steps at the
seconds one step takes there (model loading left out: see ``StepRate``). Both are
moving averages over the server's recent jobs, so a server that slows down
(another model loaded, a busier GPU) is seen doing so. Until a server's steps were
seen, their time is guessed from the fixed time (see ``FIXED_STEPS``), so a job
without a sampler already tells how fast a server is. Pure: fed by the service.
"""

from __future__ import annotations

from comfyui_pipe.progress.weights import estimated_steps
from comfyui_pipe.workflow.graph import Graph

SMOOTHING = 0.3
"""Weight of the newest job in a server's average."""

FIXED_STEPS = 2.0
"""A job's fixed time in steps of the same server, until its steps were seen."""


def work_of(prompt: Graph) -> int:
    """The units of work of a prompt: its sampler steps."""
    return sum(estimated_steps(prompt).values())


class ServerSpeeds:
    """Seconds per sampler step and fixed seconds per job on each server, once it has
    run a job."""

    def __init__(self) -> None:
        self._per_step: dict[str, float] = {}
        self._fixed: dict[str, float] = {}

    def observe(self, url: str, seconds: float, steps: int, seconds_per_step: float | None) -> None:
        """A job of ``steps`` sampler steps ran ``seconds`` on ``url``, its steps
        ``seconds_per_step`` each (None: too few of them were seen)."""
        if seconds_per_step is not None and seconds_per_step > 0:
            _average(self._per_step, url, seconds_per_step)
        per_step = seconds_per_step or self._per_step.get(url)
        if steps == 0:
            _average(self._fixed, url, seconds)
        elif per_step is not None:
            _average(self._fixed, url, max(seconds - steps * per_step, 0.0))

    def seconds(self, url: str, work: int) -> float | None:
        """Expected seconds for a job of ``work`` steps on ``url``; None until it ran a
        job there."""
        per_step, fixed = self._per_step.get(url), self._fixed.get(url)
        if fixed is None or (per_step is None and fixed == 0):
            return None
        if per_step is None:
            per_step = fixed / FIXED_STEPS
        return fixed + per_step * work


def _average(averages: dict[str, float], url: str, value: float) -> None:
    known = averages.get(url)
    averages[url] = value if known is None else known + SMOOTHING * (value - known)
