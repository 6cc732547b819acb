"""Jobs whose request is gone: left by a process that stopped or died, and adopted by
another (or by the same deployment after a restart).

Nobody waits on such a job any more, so its progress and its end go wherever a
:class:`Delivery` sends them (for a chat: the chat message, through the host's
socket layer). Which unfinished jobs are orphans is decided by the leases.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from .progress_relay import ProgressCallback
from .records import JobRecord, QueuedJob
from .sink import StoredFile


class Delivery(Protocol):
    async def progress(self, record: JobRecord) -> ProgressCallback | None:
        """Where the adopted job's progress goes from now on; None for nowhere."""
        ...

    async def finished(self, record: JobRecord, files: Sequence[StoredFile]) -> None:
        """Show the adopted job's end (``record`` is terminal) and its stored ``files``."""
        ...


def orphans(unfinished: Sequence[QueuedJob], live: Collection[str]) -> list[QueuedJob]:
    """The unfinished jobs whose owner holds no lease (or that never had an owner)."""
    return [job for job in unfinished if job.worker_id is None or job.worker_id not in live]
