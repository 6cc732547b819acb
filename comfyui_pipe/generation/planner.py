"""Where each waiting job runs, and when it should end: the plan of one look at the queue.

Pure, with an injected clock (``now``) and costs (:class:`Costs`). The waiting jobs
come in fair turns (``FairTurns``: who goes next); the plan decides where. Each job,
in turn, goes to the server where it is expected to *finish* first: the seconds of
the jobs that server already holds (running, pending on ComfyUI, and those planned
for it before this one), then loading the job's models unless the server will hold
them, then the job's own run there. It is sent now only when that server's work ends
within ``horizon`` seconds (long enough to hide the hand-off between two jobs, short
enough not to commit a job another server would start sooner) and the server holds
fewer than ``depth`` of our jobs; otherwise it waits in our queue, in line for that
server, and the jobs after it are planned behind it. Taking a server from a model that
later jobs need and no other server holds counts loading that model again too. Every
job of the plan gets its expected start, end and the jobs ahead of it on its server:
the ETAs users see.

A server that has run nothing yet is tried with one job at a time (priced as the best
known server), with the least work of that user's waiting jobs, so a slow one is
found out soon and holds little.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .costs import Estimate, Resident
from .records import JobState, QueuedJob


class Costs(Protocol):
    def estimate(self, job: QueuedJob, url: str, resident: Resident) -> Estimate:
        """``job``'s cost on ``url`` once it holds ``resident``."""
        ...

    def models(self, job: QueuedJob) -> frozenset[str]: ...

    def resident(self, url: str) -> Resident:
        """What ``url`` holds now."""
        ...

    def load_seconds(self, url: str, models: frozenset[str]) -> float:
        """What loading ``models`` on ``url`` takes."""
        ...

    def learnt(self, url: str) -> bool:
        """Whether ``url`` has run a job (its costs are its own, not a prior)."""
        ...

    def elapsed(self, job: QueuedJob) -> float:
        """Seconds a job running on ComfyUI has run."""
        ...

    def work(self, job: QueuedJob) -> float:
        """How much it has to do anywhere (to try a new server with little)."""
        ...


@dataclass(frozen=True)
class Placement:
    job_id: str
    backend: str


@dataclass(frozen=True)
class Expected:
    """When a job should start and end (the plan's clock), and how many jobs run before
    it on its server."""

    backend: str
    start: float
    end: float
    ahead: int


@dataclass(frozen=True)
class Plan:
    placements: list[Placement] = field(default_factory=list)
    """The jobs to send now, in order."""
    expected: dict[str, Expected] = field(default_factory=dict)
    """Every job of the plan: those on ComfyUI, those sent now, those waiting."""

    def places(self, waiting: Sequence[str]) -> dict[str, int]:
        """Of ``waiting`` (ids in fair-turn order), those not sent now, each with its
        place in our queue: 1 starts first by the plan (in turn where it cannot tell)."""
        sent = {placement.job_id for placement in self.placements}
        left = [job_id for job_id in waiting if job_id not in sent]
        never = float("inf")
        by_start = sorted(
            range(len(left)),
            key=lambda index: (getattr(self.expected.get(left[index]), "start", never), index),
        )
        return {left[index]: place for place, index in enumerate(by_start, start=1)}


@dataclass
class _Server:
    url: str
    learnt: bool
    free_at: float
    resident: Resident
    sent: int = 0
    """Our jobs it holds on ComfyUI (placed now included)."""
    lined_up: int = 0
    """Jobs of the plan before the next one: held and waiting for it."""


def plan(
    waiting: Sequence[QueuedJob],
    held: Sequence[QueuedJob],
    backends: Sequence[str],
    can_run: Callable[[QueuedJob, str], bool],
    costs: Costs,
    now: float,
    horizon: float,
    depth: int,
) -> Plan:
    """``waiting``: the jobs in our queue in fair-turn order; ``held``: the jobs on
    ComfyUI (any process's), by the order they run on their server; ``backends``: the
    reachable servers, most preferred first."""
    planner = _Planner(backends, can_run, costs, now, horizon, depth)
    for job in held:
        planner.hold(job)
    queue = list(waiting)
    planner.needs.update(model for job in queue for model in costs.models(job))
    while queue:
        planner.place(queue.pop(0), queue)
    return planner.plan


@dataclass
class _Planner:
    backends: Sequence[str]
    can_run: Callable[[QueuedJob, str], bool]
    costs: Costs
    now: float
    horizon: float
    depth: int
    plan: Plan = field(default_factory=Plan)
    needs: Counter[str] = field(default_factory=Counter)
    """The models of the jobs not planned yet (each once per job)."""

    def __post_init__(self) -> None:
        self._servers = {
            url: _Server(url, self.costs.learnt(url), self.now, self.costs.resident(url))
            for url in self.backends
        }
        self._order = {url: index for index, url in enumerate(self.backends)}

    def hold(self, job: QueuedJob) -> None:
        """A job already on ComfyUI at ``job.backend``."""
        server = self._servers.get(job.backend or "")
        if server is None:
            return
        seconds = self.costs.estimate(job, server.url, server.resident).seconds
        if job.state is JobState.RUNNING:
            seconds = max(seconds - self.costs.elapsed(job), 0.0)
        server.sent += 1
        self._line_up(job, server, seconds)

    def place(self, job: QueuedJob, waiting: list[QueuedJob]) -> None:
        """Plan ``job`` (or, to try a new server, a lighter job of its owner from
        ``waiting``): sent now, or in line for the server that ends it first."""
        capable = [server for server in self._servers.values() if self._runs_on(job, server)]
        if not capable:
            self.needs.subtract(self.costs.models(job))
            return
        untried = [server for server in capable if not server.learnt and server.sent == 0]
        if untried and len(capable) > 1:
            chosen = min(untried, key=lambda server: self._order[server.url])
            job = self._probe(job, chosen, waiting)
            self.needs.subtract(self.costs.models(job))
        else:
            self.needs.subtract(self.costs.models(job))
            needed = frozenset(model for model, jobs in self.needs.items() if jobs > 0)
            chosen = min(capable, key=lambda server: self._preference(job, server, needed))
        estimate = self.costs.estimate(job, chosen.url, chosen.resident)
        if self._takes_now(chosen, alone=len(capable) == 1):
            chosen.sent += 1
            self.plan.placements.append(Placement(job.id, chosen.url))
        self._line_up(job, chosen, estimate.seconds)

    def _line_up(self, job: QueuedJob, server: _Server, seconds: float) -> None:
        start = server.free_at
        server.free_at = start + seconds
        server.resident = server.resident.after(self.costs.models(job))
        self.plan.expected[job.id] = Expected(server.url, start, server.free_at, server.lined_up)
        server.lined_up += 1

    def _preference(
        self, job: QueuedJob, server: _Server, needed: frozenset[str]
    ) -> tuple[float, float, int]:
        """Where it ends first, counting what its loading evicts; of two where it ends
        alike, where it starts first."""
        ends = server.free_at + self.costs.estimate(job, server.url, server.resident).seconds
        ends += self._eviction(job, server, needed)
        return round(ends, 6), server.free_at, self._order[server.url]

    def _eviction(self, job: QueuedJob, server: _Server, needed: frozenset[str]) -> float:
        """What loading ``job``'s models on ``server`` costs the jobs after it: the models
        it would drop that a waiting job ``needs`` and no other server holds are loaded
        again, somewhere. Without it, each job in turn takes a fast server from the model
        the next jobs need, and a few jobs of each model make every server switch."""
        kept = server.resident.after(self.costs.models(job)).models
        elsewhere = frozenset().union(
            *(other.resident.models for other in self._servers.values() if other is not server)
        )
        dropped = (server.resident.models - kept) & needed - elsewhere
        return self.costs.load_seconds(server.url, dropped) if dropped else 0.0

    def _takes_now(self, server: _Server, alone: bool) -> bool:
        """Whether ``server`` takes one more job now. One that has run nothing yet takes
        one at a time while others could run the job; alone, its depth (its costs are
        guesses)."""
        if server.sent == 0:
            return True
        if not server.learnt:
            return alone and server.sent < self.depth
        return server.sent < self.depth and server.free_at - self.now <= self.horizon

    def _probe(self, job: QueuedJob, server: _Server, waiting: list[QueuedJob]) -> QueuedJob:
        """The job that tries ``server``: the least work of ``job``'s owner's waiting
        jobs (the same user's: trying a server never jumps another user's turn)."""
        same_owner = [
            other
            for other in waiting
            if other.owner_id == job.owner_id and self._runs_on(other, server)
        ]
        probe = min([job, *same_owner], key=self.costs.work)
        if probe is not job:
            waiting.remove(probe)
            waiting.insert(0, job)
        return probe

    def _runs_on(self, job: QueuedJob, server: _Server) -> bool:
        return job.backend in (None, server.url) and self.can_run(job, server.url)
