"""Which processes are alive: each one holds a lease by writing a heartbeat; the jobs
of a process whose lease ran out (killed, frozen, its host gone) are adopted by
another. Heartbeats go to their own table, never to the jobs' records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LeaseTimes:
    """Seconds. A process writes its heartbeat every ``heartbeat`` seconds and counts as
    gone once its last heartbeat is ``expiry`` seconds old."""

    heartbeat: float = 5.0
    expiry: float = 15.0


class LeaseStore(Protocol):
    async def heartbeat(self, worker_id: str, now: float) -> None:
        """Record that ``worker_id`` is alive at ``now`` (seconds since the epoch)."""
        ...

    async def live_workers(self, since: float) -> set[str]:
        """The workers whose last heartbeat is at or after ``since``."""
        ...

    async def leave(self, worker_id: str) -> None:
        """``worker_id`` stops: its jobs may be adopted at once."""
        ...
