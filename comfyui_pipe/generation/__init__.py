"""The core of the plugin, free of Open WebUI: from a request to stored outputs.

``options`` parses what a user types into a ``request``, ``limits`` builds the
generation parameters within bounds, ``backends`` spreads jobs over ComfyUI servers
and ``service`` is what callers use: ``admission`` lets a request in, the
``dispatcher`` sends it to a server, a ``run`` follows it to its end through the one
``transitions`` function, its progress goes out through a ``progress_relay`` to a
:class:`ProgressSink`, and its outputs to an :class:`OutputSink`.
"""

from .backends import BackendHealth, BackendPool, ServerHealth
from .errors import (
    ImageTooLarge,
    JobHandedOver,
    JobNotFound,
    NotAnImage,
    OutputNotStored,
    RequestError,
    TooManyJobs,
    UnknownWorkflow,
)
from .failures import Failure, FailureKind
from .limits import Limits, build_params
from .options import LoraRequest, ParsedMessage, RequestOptions, parse_message, parse_size
from .policy import Policy
from .prepare import generation_metadata
from .progress_relay import ProgressSink
from .records import JobRecord, JobState, JobStore, progress_summary
from .request import GenerationRequest, InputImage
from .scheduler import QueueWeights
from .service import GenerationService
from .sink import OutputSink, StoredFile

__all__ = [
    "BackendHealth",
    "BackendPool",
    "Failure",
    "FailureKind",
    "GenerationRequest",
    "GenerationService",
    "ImageTooLarge",
    "InputImage",
    "JobHandedOver",
    "JobNotFound",
    "JobRecord",
    "JobState",
    "JobStore",
    "Limits",
    "LoraRequest",
    "NotAnImage",
    "OutputNotStored",
    "OutputSink",
    "ParsedMessage",
    "Policy",
    "ProgressSink",
    "QueueWeights",
    "RequestError",
    "RequestOptions",
    "ServerHealth",
    "StoredFile",
    "TooManyJobs",
    "UnknownWorkflow",
    "build_params",
    "generation_metadata",
    "parse_message",
    "parse_size",
    "progress_summary",
]
