"""What every job run of one process shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .costs import ServerCosts
from .handoff import HandOff
from .output_store import OutputStore
from .policy import Policy
from .progress_relay import UpdateLane
from .records import JobStore


@dataclass(frozen=True)
class RunContext:
    store: JobStore
    outputs: OutputStore
    costs: ServerCosts
    handoff: HandOff
    lane: UpdateLane
    policy: Callable[[], Policy]
    """The current policy (an admin may change it while jobs run)."""
    wake_dispatcher: Callable[[], None]
    forget: Callable[[str], None]
    """Take the run of this job id, which ended here, off the process's list."""
