"""Talking to ComfyUI: one HTTP client, one event stream and the jobs of one server."""

from .addresses import V2_PREFIX, Credentials, cancel_on, open_backend, server_address
from .backend import Backend, BackendHealth, FollowedJob
from .client import ComfyClient, Submitted, UploadedImage
from .errors import (
    ComfyError,
    ComfyHTTPError,
    ComfyProtocolError,
    ComfyUnreachable,
    NotListed,
    OutputUnavailable,
    PromptRejected,
    UploadTooLarge,
)
from .followed import JobListener, JobUpdate
from .job import Job, JobTimeouts
from .outcome import Ending, JobOutcome, NodeFailure
from .outputs import OutputRef, outputs_from_executed, outputs_from_history
from .problems import NodeRef, Problem, ProblemKind
from .queue import QueuePosition, QueueSnapshot
from .server import ComfyServer
from .stream import EventStream, Subscription

__all__ = [
    "V2_PREFIX",
    "Backend",
    "BackendHealth",
    "ComfyClient",
    "ComfyError",
    "ComfyHTTPError",
    "ComfyProtocolError",
    "ComfyServer",
    "ComfyUnreachable",
    "Credentials",
    "Ending",
    "EventStream",
    "FollowedJob",
    "Job",
    "JobListener",
    "JobOutcome",
    "JobTimeouts",
    "JobUpdate",
    "NodeFailure",
    "NodeRef",
    "NotListed",
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
    "cancel_on",
    "open_backend",
    "outputs_from_executed",
    "outputs_from_history",
    "server_address",
]
