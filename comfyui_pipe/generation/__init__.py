"""The core of the plugin, free of Open WebUI: from a request to stored outputs.

``options`` parses what a user types into a ``request``, ``limits`` builds the
generation parameters within bounds, ``backends`` spreads jobs over ComfyUI
servers and ``service`` runs them: ``prepare`` turns a request into a queued
prompt, ``progress_relay`` passes progress on, and the service keeps a
:class:`JobRecord` in a :class:`JobStore` and hands outputs to an :class:`OutputSink`.
"""

from .backends import BackendHealth, BackendPool
from .errors import (
    ComfyUIUnavailable,
    ImageTooLarge,
    JobNotFound,
    NotAnImage,
    OutputNotStored,
    RequestError,
    TooManyJobs,
    UnknownWorkflow,
    for_user,
    http_status,
)
from .limits import Limits, build_params
from .options import LoraRequest, ParsedMessage, RequestOptions, parse_message, parse_size
from .prepare import generation_metadata
from .progress_relay import ProgressCallback, progress_summary
from .records import JobRecord, JobState, JobStore
from .request import GenerationRequest, InputImage
from .scheduler import QueueWeights
from .service import GenerationService, Policy
from .sink import OutputSink, StoredFile

__all__ = [
    "BackendHealth",
    "BackendPool",
    "ComfyUIUnavailable",
    "GenerationRequest",
    "GenerationService",
    "ImageTooLarge",
    "InputImage",
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
    "ProgressCallback",
    "QueueWeights",
    "RequestError",
    "RequestOptions",
    "StoredFile",
    "TooManyJobs",
    "UnknownWorkflow",
    "build_params",
    "for_user",
    "generation_metadata",
    "http_status",
    "parse_message",
    "parse_size",
    "progress_summary",
]
