"""Errors for requests the service refuses, and the HTTP status of every user error."""

from __future__ import annotations

from collections.abc import Iterable

from comfyui_pipe.comfy.errors import ComfyHTTPError, ComfyUnreachable, PromptRejected
from comfyui_pipe.errors import UserError


class RequestError(UserError):
    """The user's request cannot be served as asked."""

    status_code = 400


class TooManyJobs(RequestError):
    status_code = 429

    def __init__(self, running: int, limit: int) -> None:
        self.running = running
        self.limit = limit
        noun = "generation" if running == 1 else "generations"
        super().__init__(
            f"You already have {running} {noun} running; "
            f"the limit is {limit} at a time. Wait for one to finish, or stop one."
        )


class NotAnImage(RequestError):
    status_code = 415

    def __init__(self, filename: str) -> None:
        self.filename = filename
        super().__init__(f"The attached file '{filename}' is not an image.")


class ImageTooLarge(RequestError):
    status_code = 413

    def __init__(self, filename: str, what: str) -> None:
        self.filename = filename
        super().__init__(f"The attached image '{filename}' is too large: {what}.")


class UnknownWorkflow(RequestError):
    status_code = 404

    def __init__(self, workflow_id: str, known: Iterable[str] = ()) -> None:
        self.workflow_id = workflow_id
        offered = ", ".join(sorted(known))
        hint = f" Available: {offered}." if offered else ""
        super().__init__(f"There is no workflow '{workflow_id}'.{hint}")


class JobNotFound(RequestError):
    status_code = 404

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"There is no generation job '{job_id}'.")


class ComfyUIUnavailable(UserError):
    """No backend answered. Unlike ``ComfyUnreachable`` it names no URL: the
    sentence reaches the browser, the backends' addresses must not."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__("ComfyUI is not reachable right now; try again in a moment.")


class JobHandedOver(UserError):
    """This process is stopping; the job goes on and the next process finishes it."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__(
            "The server is restarting; this generation goes on and its result will "
            "appear here when it is done."
        )


class OutputNotStored(UserError):
    status_code = 500

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"The generated file '{name}' could not be stored ({reason}).")


def for_user(error: UserError) -> UserError:
    """``error`` as it may be shown to a user (no backend URL in it)."""
    if isinstance(error, ComfyUnreachable):
        return ComfyUIUnavailable()
    return error


def http_status(error: UserError) -> int:
    """The HTTP status an API answers with for ``error``."""
    status_code = getattr(error, "status_code", None)
    if isinstance(status_code, int):
        return status_code
    if isinstance(error, PromptRejected):
        return 422
    if isinstance(error, ComfyUnreachable):
        return 503
    if isinstance(error, ComfyHTTPError):
        return 502
    return 500
