"""Our own queue in front of ComfyUI: whose job leaves it next.

I/O-free: it reads the unfinished jobs of every process (the database's view). Fair
across users (:class:`FairTurns`): users with waiting jobs take turns, in proportion
to their weights, whoever queued first. Where each job goes is the plan's
(``planner.plan``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from .records import QueuedJob


class QueueWeights(Protocol):
    """How many turns each user gets in our queue, relative to the others."""

    async def weights(self, owner_ids: Collection[str]) -> Mapping[str, float]:
        """The weight of each of ``owner_ids``; one missing from the answer weighs 1."""
        ...


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
    starts at the queue's (the clock of the last job that left). After this process
    had nothing left to run (:meth:`idle`), the next jobs find every clock level again,
    unless some job is on a server then. A job run again after ComfyUI lost it (its
    attempt after the first) had its turn: it goes first."""

    def __init__(self) -> None:
        self._idle = True
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
        if self._idle and not dispatched:
            # a new busy period: what users were served before is owed by no one now
            self._next.clear()
        self._idle = False
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
        self._idle = False
        self._now = start = self._start(job.owner_id)
        self._next[job.owner_id] = start + 1 / max(weight, 1e-9)
        self._next = {owner: at for owner, at in self._next.items() if at > self._now}

    def idle(self) -> None:
        """Nothing is left to run here: the next jobs start a new busy period."""
        self._idle = True

    def _start(self, owner_id: str) -> float:
        return max(self._next.get(owner_id, self._now), self._now)


def _turn(clock: float) -> float:
    """Compared rounded, so that three thirds make one and a tie goes to the older job."""
    return round(clock, 6)
