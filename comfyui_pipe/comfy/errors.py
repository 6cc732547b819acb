"""Typed errors for everything that can go wrong talking to ComfyUI.

Every error's ``str()`` is a sentence a chat user can read. ``PromptRejected``
turns ComfyUI's 400 body into one sentence per problem with the builder in
:mod:`.node_errors`, which the workflow validator shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from comfyui_pipe.errors import UserError, as_sentence

from .node_errors import describe_rejection


class ComfyError(UserError):
    """Something went wrong on, or on the way to, a ComfyUI server."""


class ComfyUnreachable(ComfyError):
    def __init__(self, base_url: str, reason: str = "") -> None:
        self.base_url = base_url
        self.reason = reason
        detail = f" ({reason})" if reason else ""
        super().__init__(f"ComfyUI at {base_url} is not reachable{detail}.")


class ComfyHTTPError(ComfyError):
    """ComfyUI answered with a status we did not expect."""

    def __init__(self, method: str, path: str, status: int, body: str = "") -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(f"ComfyUI answered {method} {path} with HTTP {status}.")


def briefly_unavailable(error: ComfyError) -> bool:
    """The request did not get through, worth trying again later: no answer, or a proxy
    in front of ComfyUI (or ComfyUI starting) refused it with 502/503."""
    if isinstance(error, ComfyHTTPError):
        return error.status in (502, 503)
    return isinstance(error, ComfyUnreachable)


class PromptRejected(ComfyError):
    """ComfyUI (or our own validator) refused the workflow before queueing it."""

    def __init__(self, problems: list[str], body: Mapping[str, Any] | None = None) -> None:
        self.problems = problems or ["ComfyUI rejected the workflow."]
        self.body = dict(body or {})
        super().__init__(" ".join(as_sentence(p) for p in self.problems))

    @classmethod
    def from_response(
        cls, body: Mapping[str, Any], prompt: Mapping[str, Any] | None = None
    ) -> PromptRejected:
        return cls(describe_rejection(body, prompt), body)


class ExecutionFailed(ComfyError):
    """A node raised while the job ran (out of memory, bad model file, ...)."""

    def __init__(
        self,
        node_id: str | None,
        node_type: str | None,
        exception_type: str = "",
        exception_message: str = "",
    ) -> None:
        self.node_id = node_id
        self.node_type = node_type
        self.exception_type = exception_type
        self.exception_message = exception_message.strip()
        where = f"{node_type or 'a node'} (node {node_id})" if node_id else (node_type or "a node")
        if is_out_of_memory(exception_type, exception_message):
            text = (
                f"ComfyUI ran out of memory in {where}. "
                "Try a smaller size, fewer images or fewer steps."
            )
        else:
            short_type = exception_type.rsplit(".", 1)[-1] if exception_type else "Error"
            message = self.exception_message.splitlines()[0] if self.exception_message else ""
            text = f"ComfyUI failed in {where}: {short_type}" + (f": {message}" if message else "")
        super().__init__(as_sentence(text))


class JobInterrupted(ComfyError):
    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        super().__init__("The generation was cancelled.")


class JobTimedOut(ComfyError):
    def __init__(self, prompt_id: str, seconds: float, what: str = "finish") -> None:
        self.prompt_id = prompt_id
        self.seconds = seconds
        super().__init__(f"ComfyUI did not {what} within {seconds:g} s; the job was given up.")


class JobLost(ComfyError):
    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        super().__init__("ComfyUI restarted and lost this job.")


class OutputMissing(ComfyError):
    def __init__(self, prompt_id: str, detail: str = "") -> None:
        self.prompt_id = prompt_id
        extra = f" ({detail})" if detail else ""
        super().__init__(f"ComfyUI finished the job but produced no output{extra}.")


def is_out_of_memory(exception_type: str, exception_message: str) -> bool:
    text = f"{exception_type} {exception_message}".lower()
    return "outofmemory" in text or "out of memory" in text or "allocation on device" in text
