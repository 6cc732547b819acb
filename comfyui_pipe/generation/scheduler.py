"""Our own queue in front of ComfyUI: which waiting job goes to which server now.

Pure: it reads the unfinished jobs of every process (the database's view) and
answers with placements. Fair across users: each user's waiting jobs are ranked
after the jobs that user already has on ComfyUI, and jobs are taken in rank order
(divided by the user's weight), so users with waiting jobs take turns. A job only
goes to a server that can run it (its nodes and models) and that has fewer than
``depth`` of our jobs (running plus pending on ComfyUI) — a pending one only when
what it runs should end soon — and with servers of mixed speed to the one expected
to finish it first (see :func:`plan`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .records import QueuedJob

PENDING_HORIZON = 0.5
"""A server with work takes one more job (pending on ComfyUI) only when what it has
should end within this many seconds: soon enough that it never waits for us, late
enough that it never holds a job another server would start sooner."""


@dataclass(frozen=True)
class Placement:
    job_id: str
    backend: str


def fair_order(
    unfinished: Sequence[QueuedJob], weight: Callable[[str], float] = lambda owner: 1.0
) -> list[QueuedJob]:
    """The waiting jobs in the order they should leave our queue."""
    on_comfyui = Counter(job.owner_id for job in unfinished if job.dispatched)
    waiting: dict[str, list[QueuedJob]] = defaultdict(list)
    for job in sorted(unfinished, key=lambda job: (job.created_at, job.id)):
        if not job.dispatched:
            waiting[job.owner_id].append(job)
    ranked = [
        ((on_comfyui[owner] + index + 1) / max(weight(owner), 1e-9), job.created_at, job.id, job)
        for owner, jobs in waiting.items()
        for index, job in enumerate(jobs)
    ]
    return [job for *_, job in sorted(ranked, key=lambda item: item[:3])]


def plan(
    unfinished: Sequence[QueuedJob],
    backends: Sequence[str],
    depth: int,
    can_run: Callable[[QueuedJob, str], bool],
    weight: Callable[[str], float] = lambda owner: 1.0,
    seconds: Callable[[QueuedJob, str], float | None] = lambda job, url: None,
    work: Callable[[QueuedJob], float] = lambda job: 0.0,
) -> list[Placement]:
    """Where waiting jobs go now, in dispatch order. ``backends`` are the reachable
    servers, most preferred first; a waiting job with a ``backend`` (its input images
    are there) only goes there. ``seconds(job, url)`` is how long ``job`` is expected
    to run on ``url`` (None while that server's speed is unknown; for a job running
    there, the time it has left); ``work(job)`` how much it has to do anywhere.

    A job goes to the server expected to finish it first, counting the time of the
    jobs that server already has and of those waiting in line for it; when that server
    is full the job waits for it, so a slow server never holds work a fast one would
    finish sooner. A server whose speed is not known yet is tried first while free, to
    learn it, with the least work of that user's waiting jobs (a slow one is found out
    soon and holds little); until every server's speed is known, each takes one job at
    a time (a single server keeps its depth)."""
    load = Counter(job.backend for job in unfinished if job.dispatched)
    holds: dict[str, float] = defaultdict(float)  # seconds of the jobs it has on ComfyUI
    for job in unfinished:
        if job.backend is not None and job.dispatched:
            holds[job.backend] += seconds(job, job.backend) or 0.0
    busy = defaultdict(float, holds)  # ... and of the jobs in line for it

    def takes_one_more(url: str, speed_known: bool, cap: int) -> bool:
        if load[url] >= cap:
            return False
        return load[url] == 0 or not speed_known or holds[url] <= PENDING_HORIZON

    def runs_on(job: QueuedJob, url: str) -> bool:
        return job.backend in (None, url) and can_run(job, url)

    placements: list[Placement] = []
    waiting = fair_order(unfinished, weight)
    while waiting:
        job = waiting.pop(0)
        capable = [url for url in backends if runs_on(job, url)]
        times = {url: seconds(job, url) for url in capable}
        known = {url: time for url, time in times.items() if time is not None}
        # while some server's speed is unknown, every server takes one job at a time
        learning = len(known) < len(capable) and len(capable) > 1
        cap = 1 if learning else depth
        free = [url for url in capable if takes_one_more(url, url in known, cap)]
        untried = [url for url in free if url not in known]
        if untried:
            chosen = min(untried, key=lambda url: load[url])
            # the same user's: a probe never jumps another user's turn
            unknown_there = [
                other
                for other in (waiting if learning else [])
                if other.owner_id == job.owner_id
                and runs_on(other, chosen)
                and seconds(other, chosen) is None
            ]
            probe = min([job, *unknown_there], key=work)
            if probe is not job:
                waiting.remove(probe)
                waiting.insert(0, job)
                job = probe
        elif known:
            chosen = min(known, key=lambda url: busy[url] + known[url])
            busy[chosen] += known[chosen]
            if chosen not in free:
                continue  # in line for it
            holds[chosen] += known[chosen]
        else:
            continue
        load[chosen] += 1
        placements.append(Placement(job.id, chosen))
    return placements
