"""Typed errors for what can go wrong talking to ComfyUI.

Each carries its facts as fields. ``str()`` is for logs and may name the server;
what a user reads is made from the fields by the host's presenter, which never
shows a server's address.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from comfyui_pipe.errors import PipeError

from .problems import Problem, ProblemKind, problems_in_rejection


class ComfyError(PipeError):
    """Something went wrong on, or on the way to, a ComfyUI server."""


class ComfyUnreachable(ComfyError):
    def __init__(self, server: str, reason: str = "") -> None:
        self.server = server
        self.reason = reason
        super().__init__(
            f"ComfyUI at {server} is not reachable" + (f" ({reason})" if reason else "")
        )


class ComfyHTTPError(ComfyError):
    """ComfyUI answered with a status we did not expect."""

    def __init__(self, method: str, path: str, status: int, body: str = "") -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(f"ComfyUI answered {method} {path} with HTTP {status}")


class ComfyProtocolError(ComfyError):
    """ComfyUI answered with something we cannot read (not JSON, not an object, no name)."""

    def __init__(self, method: str, path: str, what: str) -> None:
        self.method = method
        self.path = path
        self.what = what
        super().__init__(f"ComfyUI answered {method} {path} with {what}")


class NotListed(ComfyError):
    """The servers here do not list what was asked for (a Comfy API v2 server gives no
    node schemas and no model lists)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"no server here lists its {what}")


class UploadTooLarge(ComfyError):
    """ComfyUI refused an input image for its size (its ``--max-upload-size``)."""

    def __init__(self, filename: str, size: int) -> None:
        self.filename = filename
        self.size = size
        super().__init__(f"ComfyUI refused the {size}-byte upload '{filename}'")


class OutputUnavailable(ComfyError):
    """An output file cannot be fetched: gone from the server, or an unsafe name."""

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        self.reason = reason
        super().__init__(f"output '{filename}' cannot be fetched: {reason}")


def briefly_unavailable(error: ComfyError) -> bool:
    """The request did not get through, worth trying again later: no answer, or a proxy
    in front of ComfyUI (or ComfyUI starting) refused it with 502/503."""
    if isinstance(error, ComfyHTTPError):
        return error.status in (502, 503)
    return isinstance(error, ComfyUnreachable)


class PromptRejected(ComfyError):
    """ComfyUI (or our own validator) refused the workflow before queueing it."""

    def __init__(self, problems: Sequence[Problem], body: Mapping[str, Any] | None = None) -> None:
        self.problems = tuple(problems) or (Problem(ProblemKind.OTHER),)
        self.body = dict(body or {})
        super().__init__("ComfyUI rejected the workflow: " + repr(self.problems))

    @classmethod
    def from_response(
        cls, body: Mapping[str, Any], prompt: Mapping[str, Any] | None = None
    ) -> PromptRejected:
        return cls(problems_in_rejection(body, prompt), body)
