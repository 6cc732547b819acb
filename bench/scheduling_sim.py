"""The planner alone, on fixed costs, against the exact best whole-job schedule.

    .venv/bin/python bench/scheduling_sim.py [--seeds 16] [--switch 2 0] [--hand-off 0.05]

No Open WebUI, no ComfyUI, no clock: an event simulation of ``planner.plan`` over the
same kind of job set as ``scheduling.py`` (24 jobs of three users, three checkpoints,
3 / 6 / 12 steps; each seed draws one, and what each server holds at the start),
with every job visible from the start and every cost known exactly (the lengths the
four doubles showed in ``scheduling.py``'s rounds). A job placed on an idle server
starts ``--hand-off`` seconds later; one pending there starts as the one before ends.
What it tells: how far the plan's own rule (each job, in fair turns, where it ends
first) is from the best schedule, apart from what the real system adds (jobs arriving
one request at a time, estimates learnt from noisy runs, a busy CPU).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from best_schedule import Kind, best_schedule  # noqa: E402

from comfyui_pipe.generation import JobState  # noqa: E402
from comfyui_pipe.generation.costs import Estimate, Resident  # noqa: E402
from comfyui_pipe.generation.planner import plan  # noqa: E402
from comfyui_pipe.generation.records import QueuedJob  # noqa: E402
from comfyui_pipe.generation.scheduler import FairTurns  # noqa: E402

FIXED = (0.06, 0.08, 0.17, 0.33)
PER_STEP = (0.021, 0.043, 0.081, 0.161)
"""Seconds: the doubles at 0.02 / 0.04 / 0.08 / 0.16 s per step, as they ran in rounds."""
SERVERS = ("s0", "s1", "s2", "s3")
CHECKPOINTS = ("a", "b", "c")
HORIZON, DEPTH = 0.3, 2


def seconds(server: int, steps: int) -> float:
    return FIXED[server] + PER_STEP[server] * steps


@dataclass
class Costs:
    """:class:`planner.Costs` of the simulation: exact."""

    jobs: dict[str, tuple[str, int]]
    switch: float
    holds: dict[str, Resident]
    started: dict[str, float] = field(default_factory=dict)
    now: float = 0.0

    def estimate(self, job: QueuedJob, url: str, resident: Resident) -> Estimate:
        checkpoint, steps = self.jobs[job.id]
        load = 0.0 if checkpoint in resident.models else self.switch
        return Estimate(load, seconds(SERVERS.index(url), steps))

    def models(self, job: QueuedJob) -> frozenset[str]:
        return frozenset([self.jobs[job.id][0]])

    def resident(self, url: str) -> Resident:
        return self.holds[url]

    def load_seconds(self, url: str, models: frozenset[str]) -> float:
        return self.switch * len(models)

    def learnt(self, url: str) -> bool:
        return True

    def elapsed(self, job: QueuedJob) -> float:
        return self.now - self.started.get(job.id, self.now)

    def work(self, job: QueuedJob) -> float:
        return self.jobs[job.id][1]


@dataclass
class Server:
    queue: list[str] = field(default_factory=list)
    """Job ids on it, the running one first."""
    running: str | None = None
    until: float = 0.0


def simulate(seed: int, switch: float, hand_off: float) -> tuple[float, int, int]:
    """(makespan ÷ best, loads, the best's loads) of one job set."""
    rng = random.Random(seed)
    drawn = [
        (user, rng.choice(CHECKPOINTS), rng.choice((3, 6, 12)))
        for user, count in enumerate((12, 6, 6))
        for _ in range(count)
    ]
    holds = {url: rng.choice(CHECKPOINTS) for url in SERVERS}
    costs = Costs(
        {f"j{n}": (ck, steps) for n, (_, ck, steps) in enumerate(drawn)},
        switch,
        {url: Resident((frozenset([holds[url]]),)) for url in SERVERS},
    )
    owners = {f"j{n}": f"user{user}" for n, (user, _, _) in enumerate(drawn)}
    makespan, loads = _run(costs, owners, hand_off)
    kinds = [Kind(ck, tuple(seconds(s, st) for s in range(4))) for ck, st in costs.jobs.values()]
    best = best_schedule(kinds, switch, [holds[url] for url in SERVERS])
    return makespan / best.makespan, loads, best.switches


def _run(costs: Costs, owners: dict[str, str], hand_off: float) -> tuple[float, int]:
    turns, servers = FairTurns(), {url: Server() for url in SERVERS}
    waiting = [
        QueuedJob(job_id, owners[job_id], n, JobState.QUEUED, "w", None, None)
        for n, job_id in enumerate(costs.jobs)
    ]
    ended: dict[str, float] = {}
    loads = 0
    while waiting or any(server.queue for server in servers.values()):
        held = [
            QueuedJob(job_id, owners[job_id], 0, _state(server, job_id), "w", url, "p")
            for url, server in servers.items()
            for job_id in server.queue
        ]
        order = turns.order([*waiting, *held])
        the_plan = plan(
            order, held, SERVERS, lambda job, url: True, costs, costs.now, HORIZON, DEPTH
        )
        sent = set()
        for placement in the_plan.placements:
            job = next(job for job in waiting if job.id == placement.job_id)
            waiting.remove(job)
            turns.served(job, 1.0)
            servers[placement.backend].queue.append(job.id)
            sent.add(job.id)
        for url, server in servers.items():
            if server.running is None and server.queue:
                loads += _start(costs, url, server, sent, hand_off)
        costs.now = min(s.until for s in servers.values() if s.running is not None)
        for server in servers.values():
            if server.running is not None and server.until <= costs.now + 1e-12:
                ended[server.queue.pop(0)] = costs.now
                server.running = None
    return max(ended.values()), loads


def _state(server: Server, job_id: str) -> JobState:
    return JobState.RUNNING if server.running == job_id else JobState.QUEUED


def _start(costs: Costs, url: str, server: Server, sent: set[str], hand_off: float) -> int:
    """Start the next job on ``server``; 1 when it loads its checkpoint."""
    job_id = server.queue[0]
    checkpoint, steps = costs.jobs[job_id]
    begin = max(costs.now + (hand_off if job_id in sent else 0.0), server.until)
    loading = checkpoint not in costs.holds[url].models
    server.running, costs.started[job_id] = job_id, begin
    server.until = begin + seconds(SERVERS.index(url), steps) + (costs.switch if loading else 0)
    costs.holds[url] = Resident((frozenset([checkpoint]),))
    return int(loading)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--switch", type=float, nargs="+", default=[2.0, 0.0])
    parser.add_argument("--hand-off", type=float, default=0.05)
    args = parser.parse_args(argv)
    print("| switch | job sets | makespan ÷ best: median | range | loads − best's: median |")
    print("|---|---|---|---|---|")
    for switch in args.switch:
        runs = [simulate(seed, switch, args.hand_off) for seed in range(args.seeds)]
        ratios = [ratio for ratio, _, _ in runs]
        extra = statistics.median(loads - best for _, loads, best in runs)
        print(
            f"| {switch:g} s | {len(runs)} | {statistics.median(ratios):.2f} "
            f"| {min(ratios):.2f}–{max(ratios):.2f} | {extra if switch else '–'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
