"""Our own queue in front of ComfyUI: which waiting job goes to which server now.

I/O-free: it reads the unfinished jobs of every process (the database's view) and
answers with placements. Fair across users (:class:`FairTurns`): users with waiting
jobs take turns, in proportion to their weights, whoever queued first. A job only
goes to a server that can run it (its nodes and models) and that has fewer than
``depth`` of our jobs (running plus pending on ComfyUI) — a pending one only when
what it runs should end soon — and with servers of mixed speed to the one expected
to finish it first (see :func:`plan`).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .records import QueuedJob

PENDING_HORIZON = 0.5
"""A server with work takes one more job (pending on ComfyUI) only when what it has
should end within this many seconds: soon enough that it never waits for us, late
enough that it never holds a job another server would start sooner."""


class QueueWeights(Protocol):
    """How many turns each user gets in our queue, relative to the others."""

    async def weights(self, owner_ids: Collection[str]) -> Mapping[str, float]:
        """The weight of each of ``owner_ids``; one missing from the answer weighs 1."""
        ...


@dataclass(frozen=True)
class Placement:
    job_id: str
    backend: str


Weight = Callable[[str], float]


def equal_weight(owner_id: str) -> float:
    return 1.0


class FairTurns:
    """Whose turn it is: start-time fair queueing over users.

    Every job that leaves the queue (for ComfyUI, sent by any process) moves its
    owner's clock on by one over the owner's weight; waiting jobs go in the order
    their owners' clocks reach them. So users with waiting jobs alternate (a user
    weighing 3 gets three turns to another's one), the one who queued a batch first
    included, and a user who waited for nothing earns no turns meanwhile: their clock
    starts at the queue's (the clock of the last job that left). After the queue was
    empty (nothing runs, and every waiting job came after the last one left), every
    clock starts level again. A job run again after ComfyUI lost it (its attempt after
    the first) had its turn: it goes first."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._left_at = float("-inf")
        """When the last job left the queue (seconds since the epoch, like ``created_at``)."""
        self._now = 0.0
        self._next: dict[str, float] = {}  # owner id -> clock of their next job
        self._counted: set[str] = set()  # ids of the dispatched jobs already counted

    def order(
        self, unfinished: Sequence[QueuedJob], weight: Weight = equal_weight
    ) -> list[QueuedJob]:
        """The waiting jobs in the order they should leave our queue; first counts the
        jobs that left it since the last look (those of other processes too)."""
        by_age = sorted(unfinished, key=lambda job: (job.created_at, job.id))
        dispatched = {job.id for job in by_age if job.dispatched}
        if not dispatched and all(job.created_at > self._left_at for job in by_age):
            # a new busy period: what users were served before is owed by no one now
            self._next.clear()
        self._counted &= dispatched
        for job in by_age:
            if job.dispatched:
                self.served(job, weight(job.owner_id))
        waiting: dict[str, list[QueuedJob]] = defaultdict(list)
        for job in by_age:
            if not job.dispatched:
                waiting[job.owner_id].append(job)
        ranked = [
            (
                job.attempt == 1,
                _turn(self._start(owner) + index / max(weight(owner), 1e-9)),
                job.created_at,
                job.id,
                job,
            )
            for owner, jobs in waiting.items()
            for index, job in enumerate(jobs)
        ]
        return [job for *_, job in sorted(ranked, key=lambda item: item[:4])]

    def served(self, job: QueuedJob, weight: float) -> None:
        """``job`` left the queue (counted once, however often it is reported)."""
        if job.id in self._counted:
            return
        self._counted.add(job.id)
        self._left_at = self._clock()
        self._now = start = self._start(job.owner_id)
        self._next[job.owner_id] = start + 1 / max(weight, 1e-9)
        self._next = {owner: at for owner, at in self._next.items() if at > self._now}

    def _start(self, owner_id: str) -> float:
        return max(self._next.get(owner_id, self._now), self._now)


def _turn(clock: float) -> float:
    """Compared rounded, so that three thirds make one and a tie goes to the older job."""
    return round(clock, 6)


def plan(
    unfinished: Sequence[QueuedJob],
    backends: Sequence[str],
    depth: int,
    can_run: Callable[[QueuedJob, str], bool],
    order: Sequence[QueuedJob] | None = None,
    seconds: Callable[[QueuedJob, str], float | None] = lambda job, url: None,
    work: Callable[[QueuedJob], float] = lambda job: 0.0,
) -> list[Placement]:
    """Where waiting jobs go now, in dispatch order. ``backends`` are the reachable
    servers, most preferred first; a waiting job with a ``backend`` (its input images
    are there) only goes there; ``order`` is the waiting jobs' turns (by default, all
    users weighing the same, see :class:`FairTurns`). ``seconds(job, url)`` is how
    long ``job`` is expected to run on ``url`` (None while that server's speed is
    unknown; for a job running there, the time it has left); ``work(job)`` how much it
    has to do anywhere.

    A job goes to the server expected to finish it first, counting the time of the
    jobs that server already has and of those waiting in line for it; when that server
    is full the job waits for it, so a slow server never holds work a fast one would
    finish sooner. A server whose speed is not known yet is tried first while free, to
    learn it, with the least work of that user's waiting jobs (a slow one is found out
    soon and holds little); until every server's speed is known, each takes one job at
    a time (a single server keeps its depth)."""
    planner = _Planner(unfinished, backends, depth, can_run, seconds, work)
    waiting = list(order) if order is not None else FairTurns().order(unfinished)
    while waiting:
        planner.place(waiting.pop(0), waiting)
    return planner.placements


class _Planner:
    """One run of :func:`plan`: what each server holds, as jobs are placed on it."""

    def __init__(
        self,
        unfinished: Sequence[QueuedJob],
        backends: Sequence[str],
        depth: int,
        can_run: Callable[[QueuedJob, str], bool],
        seconds: Callable[[QueuedJob, str], float | None],
        work: Callable[[QueuedJob], float],
    ) -> None:
        self._backends = backends
        self._depth = depth
        self._can_run = can_run
        self._seconds = seconds
        self._work = work
        self._load = Counter(job.backend for job in unfinished if job.dispatched)
        self._holds: dict[str, float] = defaultdict(float)
        """Seconds of the jobs each server has on ComfyUI."""
        for job in unfinished:
            if job.backend is not None and job.dispatched:
                self._holds[job.backend] += seconds(job, job.backend) or 0.0
        self._busy = defaultdict(float, self._holds)
        """... and of the jobs in line for it."""
        self.placements: list[Placement] = []

    def place(self, job: QueuedJob, waiting: list[QueuedJob]) -> None:
        """Place ``job`` (or, to learn a server's speed, a lighter job of its owner from
        ``waiting``), or leave it waiting."""
        capable = [url for url in self._backends if self._runs_on(job, url)]
        times = {url: self._seconds(job, url) for url in capable}
        known = {url: time for url, time in times.items() if time is not None}
        # while some server's speed is unknown, every server takes one job at a time
        learning = len(known) < len(capable) and len(capable) > 1
        cap = 1 if learning else self._depth
        free = [url for url in capable if self._takes_one_more(url, url in known, cap)]
        untried = [url for url in free if url not in known]
        if untried:
            chosen = min(untried, key=lambda url: self._load[url])
            job = self._probe(job, chosen, waiting if learning else [])
        elif known:
            chosen = min(known, key=lambda url: self._busy[url] + known[url])
            self._busy[chosen] += known[chosen]
            if chosen not in free:
                return  # in line for it
            self._holds[chosen] += known[chosen]
        else:
            return
        self._load[chosen] += 1
        self.placements.append(Placement(job.id, chosen))

    def _probe(self, job: QueuedJob, url: str, waiting: list[QueuedJob]) -> QueuedJob:
        """The job that learns ``url``'s speed: the least work of ``job``'s owner's waiting
        jobs (the same user's: a probe never jumps another user's turn)."""
        unknown_there = [
            other
            for other in waiting
            if other.owner_id == job.owner_id
            and self._runs_on(other, url)
            and self._seconds(other, url) is None
        ]
        probe = min([job, *unknown_there], key=self._work)
        if probe is not job:
            waiting.remove(probe)
            waiting.insert(0, job)
        return probe

    def _takes_one_more(self, url: str, speed_known: bool, cap: int) -> bool:
        if self._load[url] >= cap:
            return False
        return self._load[url] == 0 or not speed_known or self._holds[url] <= PENDING_HORIZON

    def _runs_on(self, job: QueuedJob, url: str) -> bool:
        return job.backend in (None, url) and self._can_run(job, url)
