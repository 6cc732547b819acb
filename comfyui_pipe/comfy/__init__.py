"""Talking to ComfyUI: one HTTP client, one event stream and the jobs of one server."""

from .client import ComfyClient, Submitted, UploadedImage
from .errors import (
    ComfyError,
    ComfyHTTPError,
    ComfyProtocolError,
    ComfyUnreachable,
    OutputUnavailable,
    PromptRejected,
    UploadTooLarge,
)
from .job import Job, JobListener, JobTimeouts, JobUpdate
from .outcome import Ending, JobOutcome, NodeFailure
from .outputs import OutputRef, outputs_from_executed, outputs_from_history
from .problems import NodeRef, Problem, ProblemKind
from .queue import QueuePosition, QueueSnapshot
from .server import ComfyServer
from .stream import EventStream, Subscription

__all__ = [
    "ComfyClient",
    "ComfyError",
    "ComfyHTTPError",
    "ComfyProtocolError",
    "ComfyServer",
    "ComfyUnreachable",
    "Ending",
    "EventStream",
    "Job",
    "JobListener",
    "JobOutcome",
    "JobTimeouts",
    "JobUpdate",
    "NodeFailure",
    "NodeRef",
    "OutputRef",
    "OutputUnavailable",
    "Problem",
    "ProblemKind",
    "PromptRejected",
    "QueuePosition",
    "QueueSnapshot",
    "Submitted",
    "Subscription",
    "UploadTooLarge",
    "UploadedImage",
    "outputs_from_executed",
    "outputs_from_history",
]
