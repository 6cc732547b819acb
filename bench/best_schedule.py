"""The best whole-job schedule of a job set on servers of mixed speed, computed exactly.

Each server runs one job at a time and holds one checkpoint: a job of another
checkpoint first loads its own (``switch`` seconds). On one server the best order
runs the jobs of one checkpoint together, the one it already holds first, so a
server's time is the sum of its jobs' times plus one switch per checkpoint it runs
other than the one it holds. What is left is which jobs go where: a small integer
program over job *kinds* (checkpoint, length on each server; identical jobs are
interchangeable), solved to optimality by HiGHS (``scipy.optimize.milp``):

    minimise C   subject to, for every kind k and server s,
        Σ_s n[k,s] = count[k]                 every job runs once
        n[k,s] ≤ count[k] · u[c(k),s]         a server runs c only if it loads or holds c
        Σ_k seconds[k,s] · n[k,s] + switch · Σ_c u[c,s] · (c not held by s) ≤ C

Then, among the schedules of that makespan, the fewest switches (a second solve).
A bench-only dependency (the ``bench`` extra).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp


@dataclass(frozen=True)
class Kind:
    """Jobs alike: their checkpoint and their seconds on each server (by index)."""

    checkpoint: str
    seconds: tuple[float, ...]


@dataclass(frozen=True)
class Best:
    makespan: float
    switches: int
    """Checkpoint loads of that schedule (a server holding nothing loads once too)."""
    jobs: tuple[tuple[int, ...], ...]
    """Jobs of each kind (in ``kinds`` order) on each server."""


def best_schedule(jobs: Sequence[Kind], switch: float, holds: Sequence[str | None]) -> Best:
    """``jobs`` (one Kind per job), ``switch`` seconds per checkpoint load, ``holds``: the
    checkpoint each server holds at the start."""
    counts = Counter(jobs)
    kinds = list(counts)
    checkpoints = sorted({kind.checkpoint for kind in kinds})
    program = _Program(kinds, [counts[kind] for kind in kinds], checkpoints, switch, holds)
    program.solve("makespan")
    first = program.best
    if switch > 0:
        try:  # the fewest switches within the makespan found (solver tolerance added)
            program.solve("switches", makespan=first.makespan * (1 + 1e-6) + 1e-6)
        except RuntimeError:
            program.best = first
    return program.best


class _Program:
    """Variables: n[k,s] (integers), u[c,s] (0/1), C."""

    def __init__(
        self,
        kinds: list[Kind],
        counts: list[int],
        checkpoints: list[str],
        switch: float,
        holds: Sequence[str | None],
    ) -> None:
        self.kinds, self.counts, self.checkpoints = kinds, counts, checkpoints
        self.servers = len(holds)
        self.switch, self.holds = switch, holds
        self.size = len(kinds) * self.servers + len(checkpoints) * self.servers + 1
        self.best = Best(float("inf"), 0, ())

    def n(self, kind: int, server: int) -> int:
        return kind * self.servers + server

    def u(self, checkpoint: int, server: int) -> int:
        return len(self.kinds) * self.servers + checkpoint * self.servers + server

    def loads(self, checkpoint: int, server: int) -> float:
        """1 when running ``checkpoint`` there means loading it."""
        return 0.0 if self.holds[server] == self.checkpoints[checkpoint] else 1.0

    def solve(self, minimise: str, makespan: float | None = None) -> float:
        rows, lower, upper = self._constraints()
        cost = np.zeros(self.size)
        if minimise == "makespan":
            cost[-1] = 1.0
        else:
            for c in range(len(self.checkpoints)):
                for s in range(self.servers):
                    cost[self.u(c, s)] = self.loads(c, s)
        high = np.full(self.size, np.inf)
        for k, count in enumerate(self.counts):
            for s in range(self.servers):
                high[self.n(k, s)] = count
        high[len(self.kinds) * self.servers : -1] = 1.0
        if makespan is not None:
            high[-1] = makespan
        integrality = np.ones(self.size)
        integrality[-1] = 0
        result = milp(
            cost,
            constraints=LinearConstraint(np.array(rows), lower, upper),
            integrality=integrality,
            bounds=Bounds(np.zeros(self.size), high),
        )
        if not result.success:
            raise RuntimeError(f"the schedule's program failed: {result.message}")
        self._keep(result.x)
        return float(result.x[-1])

    def _constraints(self) -> tuple[list[np.ndarray], list[float], list[float]]:
        rows: list[np.ndarray] = []
        lower: list[float] = []
        upper: list[float] = []
        for k, count in enumerate(self.counts):  # every job runs once
            row = np.zeros(self.size)
            for s in range(self.servers):
                row[self.n(k, s)] = 1.0
            rows.append(row)
            lower.append(count)
            upper.append(count)
        for k, kind in enumerate(self.kinds):  # only a checkpoint the server loads or holds
            c = self.checkpoints.index(kind.checkpoint)
            for s in range(self.servers):
                row = np.zeros(self.size)
                row[self.n(k, s)], row[self.u(c, s)] = 1.0, -float(self.counts[k])
                rows.append(row)
                lower.append(-np.inf)
                upper.append(0.0)
        for s in range(self.servers):  # each server's time within the makespan
            row = np.zeros(self.size)
            for k, kind in enumerate(self.kinds):
                row[self.n(k, s)] = kind.seconds[s]
            for c in range(len(self.checkpoints)):
                row[self.u(c, s)] = self.switch * self.loads(c, s)
            row[-1] = -1.0
            rows.append(row)
            lower.append(-np.inf)
            upper.append(0.0)
        return rows, lower, upper

    def _keep(self, x: np.ndarray) -> None:
        jobs = tuple(
            tuple(round(x[self.n(k, s)]) for s in range(self.servers))
            for k in range(len(self.kinds))
        )
        makespan = max(
            sum(kind.seconds[s] * jobs[k][s] for k, kind in enumerate(self.kinds))
            + self.switch * self._switches_on(jobs, s)
            for s in range(self.servers)
        )
        switches = sum(self._switches_on(jobs, s) for s in range(self.servers))
        self.best = Best(makespan, switches, jobs)

    def _switches_on(self, jobs: tuple[tuple[int, ...], ...], server: int) -> int:
        used = {self.kinds[k].checkpoint for k in range(len(self.kinds)) if jobs[k][server]}
        return sum(1 for checkpoint in used if checkpoint != self.holds[server])


def brute_force(jobs: Sequence[Kind], switch: float, holds: Sequence[str | None]) -> float:
    """The same makespan by trying every assignment (tiny job sets only: for tests)."""
    best = float("inf")
    servers = len(holds)

    def walk(index: int, times: list[float], used: list[set[str]]) -> None:
        nonlocal best
        spans = [
            time + switch * sum(1 for c in used[s] if c != holds[s]) for s, time in enumerate(times)
        ]
        if max(spans) >= best:
            return
        if index == len(jobs):
            best = max(spans)
            return
        job = jobs[index]
        for s in range(servers):
            times[s] += job.seconds[s]
            added = job.checkpoint not in used[s]
            used[s].add(job.checkpoint)
            walk(index + 1, times, used)
            times[s] -= job.seconds[s]
            if added:
                used[s].discard(job.checkpoint)

    walk(0, [0.0] * servers, [set() for _ in range(servers)])
    return best


def holds_of(loaded: Mapping[int, Sequence[str]], servers: int) -> list[str | None]:
    """Each server's checkpoint held, from the doubles' memories (newest last)."""
    return [loaded[s][-1] if loaded.get(s) else None for s in range(servers)]
