"""Why a job did not complete, as data kept on its record.

A failed or cancelled record carries a :class:`Failure`: what ended it and the facts
a sentence needs (the node that raised, the seconds that ran out, the problems
ComfyUI found). The sentence itself is made where it is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter

from comfyui_pipe.comfy.errors import (
    ComfyError,
    ComfyHTTPError,
    ComfyUnreachable,
    OutputUnavailable,
    PromptRejected,
)
from comfyui_pipe.comfy.outcome import NodeFailure
from comfyui_pipe.comfy.problems import Problem
from comfyui_pipe.errors import PipeError

from .errors import OutputNotAllowed, OutputNotStored, OutputTooLarge, TooManyOutputs


class FailureKind(StrEnum):
    CANCELLED = "cancelled"
    """Stopped by its owner (or an admin), wherever it was."""
    SHUTDOWN = "shutdown"
    """Cancelled because Open WebUI stopped and the admin asked for that."""
    NODE_FAILED = "node_failed"
    LOST = "lost"
    """ComfyUI restarted (or its queue was cleared) and forgot it."""
    NO_OUTPUT = "no_output"
    TIMED_OUT = "timed_out"
    UNREACHABLE = "unreachable"
    REJECTED = "rejected"
    """The server refused the prompt when it was sent there."""
    SERVER_ERROR = "server_error"
    """ComfyUI answered in a way we did not expect."""
    OUTPUT_UNAVAILABLE = "output_unavailable"
    OUTPUT_NOT_STORED = "output_not_stored"
    OUTPUT_NOT_ALLOWED = "output_not_allowed"
    """ComfyUI returned a file that is not an image, video or audio file we keep."""
    OUTPUT_TOO_LARGE = "output_too_large"
    TOO_MANY_OUTPUTS = "too_many_outputs"
    SERVER_GONE = "server_gone"
    """The server it was queued on is no longer configured."""
    UNEXPECTED = "unexpected"
    EARLIER_VERSION = "earlier_version"
    """Ended under an earlier version, which kept only a sentence (``text``)."""


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    node: NodeFailure | None = None
    seconds: float | None = None
    """For ``TIMED_OUT``: the job timeout that ran out."""
    before_start: bool = False
    """For ``TIMED_OUT``: it never left the queue."""
    problems: tuple[Problem, ...] = ()
    file: str | None = None
    """For ``OUTPUT_*``: the output's file name (as ComfyUI reported it)."""
    size_limit: int | None = None
    """For ``OUTPUT_TOO_LARGE``: the bytes one output may have."""
    count: int | None = None
    """For ``TOO_MANY_OUTPUTS``: how many files ComfyUI reported."""
    status: int | None = None
    """For ``SERVER_ERROR``: the HTTP status ComfyUI answered with."""
    text: str | None = None
    """For ``EARLIER_VERSION``: the sentence it was stored with."""
    attempts: int | None = None
    """For ``LOST``: the runs ComfyUI lost, when they were all the job was allowed."""

    def to_json(self) -> str:
        return _ADAPTER.dump_json(self, exclude_defaults=True).decode()

    @classmethod
    def from_json(cls, stored: str) -> Failure:
        """A failure as :meth:`to_json` wrote it; an earlier version's sentence as such."""
        try:
            value: Any = json.loads(stored)
            return _ADAPTER.validate_python(value)
        except ValueError:
            return cls(FailureKind.EARLIER_VERSION, text=stored)


CANCELLED = Failure(FailureKind.CANCELLED)

_ADAPTER: TypeAdapter[Failure] = TypeAdapter(Failure)


def failure_of(error: PipeError) -> Failure:
    """The failure a job that met ``error`` ends with."""
    match error:
        case ComfyUnreachable():
            return Failure(FailureKind.UNREACHABLE)
        case PromptRejected(problems=problems):
            return Failure(FailureKind.REJECTED, problems=problems)
        case ComfyHTTPError(status=status):
            return Failure(FailureKind.SERVER_ERROR, status=status)
        case OutputUnavailable(filename=filename):
            return Failure(FailureKind.OUTPUT_UNAVAILABLE, file=filename)
        case OutputNotStored(name=name):
            return Failure(FailureKind.OUTPUT_NOT_STORED, file=name)
        case OutputNotAllowed(filename=filename):
            return Failure(FailureKind.OUTPUT_NOT_ALLOWED, file=filename)
        case TooManyOutputs(count=count):
            return Failure(FailureKind.TOO_MANY_OUTPUTS, count=count)
        case OutputTooLarge(filename=filename, limit=limit):
            return Failure(FailureKind.OUTPUT_TOO_LARGE, file=filename, size_limit=limit)
        case ComfyError():
            return Failure(FailureKind.SERVER_ERROR)
    return Failure(FailureKind.UNEXPECTED)
