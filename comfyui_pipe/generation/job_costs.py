"""The planner's view of the shared queue's jobs: what each costs on each server.

Jobs this process follows are priced by their shapes (workflow, steps, size, models);
a job another process follows by what a server's typical job costs there (that
process knows its shape and checks it).
"""

from __future__ import annotations

from collections.abc import Mapping

from .costs import Estimate, Resident, ServerCosts
from .records import QueuedJob
from .run import JobRun
from .shapes import REFERENCE_PIXELS, JobShape

ELSEWHERE = JobShape("", steps=20, pixels=REFERENCE_PIXELS)
"""A job of another process, for want of its shape."""


class JobCosts:
    """:class:`planner.Costs` for one look, at ``now`` (monotonic)."""

    def __init__(self, costs: ServerCosts, runs: Mapping[str, JobRun], now: float) -> None:
        self._costs = costs
        self._runs = runs
        self._now = now
        self._estimates: dict[tuple[str, str, Resident], Estimate] = {}

    def shape(self, job: QueuedJob) -> JobShape:
        run = self._runs.get(job.id)
        return run.shape if run is not None else ELSEWHERE

    def estimate(self, job: QueuedJob, url: str, resident: Resident) -> Estimate:
        key = (job.id, url, resident)
        if key not in self._estimates:  # the planner asks again for the server it chose
            self._estimates[key] = self._costs.estimate(url, self.shape(job), resident)
        return self._estimates[key]

    def models(self, job: QueuedJob) -> frozenset[str]:
        return self.shape(job).models

    def resident(self, url: str) -> Resident:
        return self._costs.resident(url)

    def load_seconds(self, url: str, models: frozenset[str]) -> float:
        return self._costs.load_seconds(url, models)

    def learnt(self, url: str) -> bool:
        return self._costs.learnt(url)

    def elapsed(self, job: QueuedJob) -> float:
        run = self._runs.get(job.id)
        if run is None or run.ran_from is None:
            return 0.0  # another process's: as if it had just started
        return self._now - run.ran_from

    def work(self, job: QueuedJob) -> float:
        shape = self.shape(job)
        return shape.steps * shape.pixels / REFERENCE_PIXELS
