"""What every job run of one process shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .output_store import OutputStore
from .policy import Policy
from .progress_relay import UpdateLane
from .records import JobStore
from .speeds import ServerSpeeds


@dataclass(frozen=True)
class RunContext:
    store: JobStore
    outputs: OutputStore
    speeds: ServerSpeeds
    lane: UpdateLane
    policy: Callable[[], Policy]
    """The current policy (an admin may change it while jobs run)."""
    wake_dispatcher: Callable[[], None]
    forget: Callable[[str], None]
    """Take the run of this job id, which ended here, off the process's list."""
