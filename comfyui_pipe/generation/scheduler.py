"""Our own queue in front of ComfyUI: which waiting job goes to which server now.

Pure: it reads the unfinished jobs of every process (the database's view) and
answers with placements. Fair across users: each user's waiting jobs are ranked
after the jobs that user already has on ComfyUI, and jobs are taken in rank order
(divided by the user's weight), so users with waiting jobs take turns. A job only
goes to a server that can run it (its nodes and models) and that has fewer than
``depth`` of our jobs (running plus pending on ComfyUI).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .records import QueuedJob


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
) -> list[Placement]:
    """Where waiting jobs go now, in dispatch order. ``backends`` are the reachable
    servers, most preferred first; a waiting job with a ``backend`` (its input images
    are there) only goes there."""
    load = Counter(job.backend for job in unfinished if job.dispatched)
    placements: list[Placement] = []
    for job in fair_order(unfinished, weight):
        free = [
            url
            for url in backends
            if load[url] < depth and job.backend in (None, url) and can_run(job, url)
        ]
        if free:
            chosen = min(free, key=lambda url: load[url])
            load[chosen] += 1
            placements.append(Placement(job.id, chosen))
    return placements
