"""How fast the sampler steps go, measured as they happen."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepTick:
    node: str
    step: int
    at: float


class StepRate:
    """Seconds per sampler step, from the gaps between consecutive steps.

    The gap before a sampler's first step is left out: it holds model
    loading and warm-up, not sampling.
    """

    def __init__(self) -> None:
        self._seconds = 0.0
        self._steps = 0
        self.last: StepTick | None = None

    def observe(self, tick: StepTick) -> None:
        last = self.last
        if last is not None and last.node == tick.node and tick.step > last.step:
            self._seconds += tick.at - last.at
            self._steps += tick.step - last.step
        self.last = tick

    @property
    def seconds_per_step(self) -> float | None:
        return self._seconds / self._steps if self._steps else None
