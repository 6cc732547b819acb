"""The admin's rules the generation service runs by."""

from __future__ import annotations

from dataclasses import dataclass, field

from .limits import Limits
from .output_types import MAX_OUTPUT_BYTES


@dataclass(frozen=True)
class Policy:
    limits: Limits = field(default_factory=Limits)
    jobs_per_user: int = 2
    job_timeout: float = 900.0
    """Seconds a job may take from its request to its end, its time in our queue included."""
    previews: bool = True
    server_depth: int = 2
    """Our jobs on one ComfyUI server at a time: one running and one pending by default."""
    cancel_on_shutdown: bool = False
    """Cancel this process's jobs on ComfyUI when it stops, instead of leaving them for
    the next process to adopt."""
    max_attempts: int = 3
    """Runs of a job that ComfyUI may lose (it restarted or died while running it) before
    the job fails: until then it is queued again at the front, same graph and seed."""
    progress_save_every: float = 0.0
    """Seconds between writes of a running job's progress to its record (for readers in
    other processes); 0: its record is written only as its state changes."""
    max_output_bytes: int = MAX_OUTPUT_BYTES
    """Bytes one output file may have; a job whose server sends a larger one fails."""
