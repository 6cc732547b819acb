"""Errors of the generation service: requests it refuses, and what stops a job on the way.

A request refusal (``RequestError``) is about the user's own input and says so in its
``str()``; the others carry their facts as fields (see ``comfyui_pipe.errors``).
"""

from __future__ import annotations

from collections.abc import Iterable

from comfyui_pipe.errors import PipeError


class RequestError(PipeError):
    """The user's request cannot be served as asked; ``str()`` says why in a sentence
    about the request itself."""


class TooManyJobs(RequestError):
    def __init__(self, running: int, limit: int) -> None:
        self.running = running
        self.limit = limit
        noun = "generation" if running == 1 else "generations"
        super().__init__(
            f"You already have {running} {noun} running; "
            f"the limit is {limit} at a time. Wait for one to finish, or stop one."
        )


class NotAnImage(RequestError):
    def __init__(self, filename: str) -> None:
        self.filename = filename
        super().__init__(f"The attached file '{filename}' is not an image.")


class ImageTooLarge(RequestError):
    def __init__(self, filename: str, what: str) -> None:
        self.filename = filename
        super().__init__(f"The attached image '{filename}' is too large: {what}.")


class UnknownWorkflow(RequestError):
    def __init__(self, workflow_id: str, known: Iterable[str] = ()) -> None:
        self.workflow_id = workflow_id
        self.offered = sorted(known)
        hint = f" Available: {', '.join(self.offered)}." if self.offered else ""
        super().__init__(f"There is no workflow '{workflow_id}'.{hint}")


class JobNotFound(RequestError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"There is no generation job '{job_id}'.")


class JobHandedOver(PipeError):
    """This process is stopping (or lost the job to another); the job goes on and the
    process that follows it now finishes it."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"generation {job_id} is handed over to another process")


class OutputNotStored(PipeError):
    """An output could not be written into the host's storage."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"the output '{name}' could not be stored: {reason}")


class TooManyOutputs(PipeError):
    """ComfyUI reported more files for one job than any real workflow makes."""

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(f"{count} outputs reported for one job; at most {limit} are kept")


class OutputRefused(PipeError):
    """An output ComfyUI reported that is not kept (its job fails)."""

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        super().__init__(f"the output '{filename}' is refused: {reason}")


class OutputNotAllowed(OutputRefused):
    """Its bytes are not in a kept image, video or audio format (``output_types``)."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename, "its bytes are not in a kept format")


class OutputTooLarge(OutputRefused):
    def __init__(self, filename: str, limit: int) -> None:
        self.limit = limit
        super().__init__(filename, f"it is larger than {limit} bytes")
