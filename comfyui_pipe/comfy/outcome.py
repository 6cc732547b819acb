"""How a prompt ended on ComfyUI, as data: what ended it and what it left behind.

A job's outcome is a value, not an exception: the caller matches on ``ending``.
Nothing here is a sentence; the host turns an outcome into words for its users.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .outputs import OutputRef


class Ending(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """A node raised while the prompt ran (``JobOutcome.failure`` says which)."""
    INTERRUPTED = "interrupted"
    """Cancelled on the server, by us or by anyone else."""
    LOST = "lost"
    """The server does not know the prompt (it restarted, or its queue was cleared)."""
    NO_OUTPUT = "no_output"
    """It ran to the end and produced no file."""


@dataclass(frozen=True)
class NodeFailure:
    """What ComfyUI said about the node that raised."""

    node_id: str | None
    node_type: str | None
    exception_type: str = ""
    exception_message: str = ""

    @property
    def out_of_memory(self) -> bool:
        text = f"{self.exception_type} {self.exception_message}".lower()
        return "outofmemory" in text or "out of memory" in text or "allocation on device" in text


@dataclass(frozen=True)
class JobOutcome:
    prompt_id: str
    ending: Ending
    outputs: tuple[OutputRef, ...] = ()
    """In node order (see ``outputs.in_node_order``), whichever source told us."""
    failure: NodeFailure | None = None
