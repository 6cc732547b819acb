"""Talking to ComfyUI: one HTTP client, one event stream and the jobs of one server."""

from .client import ComfyClient, Submitted, UploadedImage
from .errors import (
    ComfyError,
    ComfyHTTPError,
    ComfyUnreachable,
    ExecutionFailed,
    JobInterrupted,
    JobLost,
    JobTimedOut,
    OutputMissing,
    PromptRejected,
)
from .job import Job, JobResult, JobTimeouts, JobUpdate
from .outputs import OutputRef, outputs_from_executed, outputs_from_history
from .queue import QueuePosition, QueueSnapshot
from .server import ComfyServer
from .stream import EventStream, Subscription

__all__ = [
    "ComfyClient",
    "ComfyError",
    "ComfyHTTPError",
    "ComfyServer",
    "ComfyUnreachable",
    "EventStream",
    "ExecutionFailed",
    "Job",
    "JobInterrupted",
    "JobLost",
    "JobResult",
    "JobTimedOut",
    "JobTimeouts",
    "JobUpdate",
    "OutputMissing",
    "OutputRef",
    "PromptRejected",
    "QueuePosition",
    "QueueSnapshot",
    "Submitted",
    "Subscription",
    "UploadedImage",
    "outputs_from_executed",
    "outputs_from_history",
]
