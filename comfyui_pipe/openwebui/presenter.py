"""The sentences users read when something goes wrong: made here, from typed errors and
failures, for the chat, the Tool, the Actions and the API alike.

Nothing below ``openwebui`` words an error for a user; errors and failures carry
facts. What ComfyUI itself says (an exception message, a refusal's detail) is passed
on with web addresses and file paths taken out: a user never reads where a server
or a file lives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from comfyui_pipe.comfy import (
    ComfyHTTPError,
    ComfyProtocolError,
    ComfyUnreachable,
    NodeFailure,
    NotListed,
    OutputUnavailable,
    Problem,
    ProblemKind,
    PromptRejected,
    UploadTooLarge,
)
from comfyui_pipe.comfy.problems import ModelFolder, NodeRef
from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation import (
    Failure,
    FailureKind,
    JobHandedOver,
    OutputNotStored,
    RequestError,
)
from comfyui_pipe.generation.output_types import KEPT_FORMATS, MAX_OUTPUTS_PER_JOB

UNREACHABLE = "ComfyUI is not reachable right now; try again in a moment."
CANCELLED = "The generation was cancelled."
HANDED_OVER = (
    "The server is restarting; this generation goes on and its result will appear here "
    "when it is done."
)
UNEXPECTED = "The generation failed unexpectedly."
UNEXPECTED_IN_CHAT = "The image could not be generated because of an unexpected error."
UNEXPECTED_IN_TOOL = "Nothing was made because of an unexpected error in the ComfyUI tool."
UNEXPECTED_IN_ACTION = "The action failed because of an unexpected error."
"""What each chat surface says when something failed that no typed error describes."""

_ADDRESS = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\\/\s'\"]+){2,}")
_MODEL_NOUNS: Mapping[ModelFolder, str] = {
    ModelFolder.MODEL: "model",
    ModelFolder.LORA: "LoRA",
    ModelFolder.VAE: "VAE",
    ModelFolder.UPSCALE: "upscale model",
    ModelFolder.CONTROLNET: "ControlNet model",
    ModelFolder.TEXT_ENCODER: "text encoder",
}


def describe(error: PipeError) -> str:
    """What a user reads for ``error``."""
    match error:
        case RequestError():
            return str(error)
        case ComfyUnreachable():
            return UNREACHABLE
        case PromptRejected(problems=problems):
            return describe_problems(problems)
        case NotListed(what=what):
            return (
                f"No ComfyUI server here lists its {what}: Comfy API v2 servers give none; "
                "add a native ComfyUI server for this."
            )
        case UploadTooLarge(filename=filename, size=size):
            return _too_large(f"The image '{filename}'", size)
        case OutputUnavailable(filename=filename, reason=reason):
            return f"The output '{filename}' could not be fetched from ComfyUI: {reason}."
        case ComfyHTTPError(status=status):
            return f"ComfyUI answered with an unexpected error (HTTP {status})."
        case ComfyProtocolError():
            return "ComfyUI answered with something that could not be read."
        case OutputNotStored(name=name):
            return f"The generated file '{name}' could not be stored."
        case JobHandedOver():
            return HANDED_OVER
    return UNEXPECTED


def describe_failure(failure: Failure) -> str:
    """Why a job did not complete, for its owner."""
    match failure.kind:
        case FailureKind.CANCELLED:
            return CANCELLED
        case FailureKind.SHUTDOWN:
            return "The generation was stopped because the server shut down."
        case FailureKind.NODE_FAILED:
            return describe_node_failure(failure.node or NodeFailure(None, None))
        case FailureKind.LOST if (failure.attempts or 1) > 1:
            return (
                f"ComfyUI restarted or crashed during each of this job's {failure.attempts} "
                "attempts; it was given up."
            )
        case FailureKind.LOST:
            return "ComfyUI restarted and lost this job."
        case FailureKind.NO_OUTPUT:
            return "ComfyUI finished the job but produced no output."
        case FailureKind.TIMED_OUT:
            what = "start" if failure.before_start else "finish"
            return (
                f"ComfyUI did not {what} within {failure.seconds or 0:g} s; the job was given up."
            )
        case FailureKind.UNREACHABLE:
            return UNREACHABLE
        case FailureKind.REJECTED:
            return describe_problems(failure.problems)
        case FailureKind.SERVER_ERROR if failure.status is not None:
            return f"ComfyUI answered with an unexpected error (HTTP {failure.status})."
        case FailureKind.SERVER_ERROR:
            return "ComfyUI answered with something that could not be read."
        case FailureKind.OUTPUT_UNAVAILABLE:
            return f"ComfyUI no longer has the output '{failure.file}'."
        case FailureKind.OUTPUT_NOT_STORED:
            return f"The generated file '{failure.file}' could not be stored."
        case FailureKind.OUTPUT_NOT_ALLOWED:
            kept = ", ".join(media.label for media in KEPT_FORMATS)
            return (
                f"ComfyUI returned '{_file_name(failure.file)}', which is not an image, video "
                f"or audio file of a kind kept here ({kept}); nothing was stored."
            )
        case FailureKind.OUTPUT_TOO_LARGE:
            return (
                f"ComfyUI returned '{_file_name(failure.file)}', larger than the "
                f"{_bytes(failure.size_limit or 0)} one output may have here; nothing was "
                "stored."
            )
        case FailureKind.TOO_MANY_OUTPUTS:
            return (
                f"ComfyUI returned {failure.count} files for one generation; at most "
                f"{MAX_OUTPUTS_PER_JOB} are kept, so nothing was stored."
            )
        case FailureKind.SERVER_GONE:
            return "The ComfyUI server this generation was queued on is no longer configured."
        case FailureKind.EARLIER_VERSION:
            return failure.text or UNEXPECTED
    return UNEXPECTED


def describe_node_failure(failure: NodeFailure) -> str:
    node_type, node_id = failure.node_type, failure.node_id
    where = f"{node_type or 'a node'} (node {node_id})" if node_id else (node_type or "a node")
    if failure.out_of_memory:
        return (
            f"ComfyUI ran out of memory in {where}. Try a smaller size, fewer images or fewer "
            "steps."
        )
    short_type = failure.exception_type.rsplit(".", 1)[-1] if failure.exception_type else "Error"
    lines = failure.exception_message.strip().splitlines()
    message = _without_places(lines[0]) if lines else ""
    return as_sentence(
        f"ComfyUI failed in {where}: {short_type}" + (f": {message}" if message else "")
    )


def describe_problems(problems: tuple[Problem, ...] | list[Problem]) -> str:
    return " ".join(as_sentence(describe_problem(problem)) for problem in problems)


def describe_problem(problem: Problem) -> str:
    """One problem ComfyUI (or our validator) found in a workflow."""
    label = _label(problem.node)
    name, value, limit = problem.input, problem.value, problem.limit
    detail = _without_places(problem.detail)
    match problem.kind:
        case ProblemKind.MODEL_NOT_INSTALLED:
            noun = _MODEL_NOUNS[problem.model or ModelFolder.MODEL]
            return f"{noun} '{value}' is not installed on this ComfyUI"
        case ProblemKind.VALUE_NOT_ALLOWED:
            return f"{name} {_shown(value)} is not an allowed value{_choices(problem)}"
        case ProblemKind.ABOVE_MAXIMUM:
            return f"{name} {value} is above the maximum {_or_unknown(limit)}"
        case ProblemKind.BELOW_MINIMUM:
            return f"{name} {value} is below the minimum {_or_unknown(limit)}"
        case ProblemKind.INPUT_MISSING:
            return f"{label} is missing its required input '{name}'"
        case ProblemKind.WRONG_TYPE:
            return f"{name} {_shown(value)} is not a valid {limit or 'the expected type'}"
        case ProblemKind.WRONG_LINK:
            return f"input '{name}' of {label} is connected to the wrong kind of output"
        case ProblemKind.CYCLE:
            return f"the workflow has a cycle through {label}"
        case ProblemKind.LINK_TO_MISSING_NODE:
            return f"{label} links to node {detail} which is not in the workflow"
        case ProblemKind.NOT_VALIDATED:
            return f"{label} could not be validated: {detail}"
        case ProblemKind.IMAGE_NOT_UPLOADED:
            return f"input image '{value}' is not on this ComfyUI (upload it first)"
        case ProblemKind.NODE_REFUSED:
            return f"{label}: {detail or 'validation failed'}"
        case ProblemKind.NODE_TYPE_MISSING:
            return f"node type '{value}' is not installed on this ComfyUI"
        case ProblemKind.NO_OUTPUT_NODE:
            return "the workflow has no output node (such as SaveImage)"
        case ProblemKind.NO_WORKFLOW:
            return "no workflow was sent to ComfyUI"
        case ProblemKind.BAD_JOB_ID:
            return "ComfyUI did not accept the job id"
        case ProblemKind.TOO_LARGE:
            return _too_large("The workflow", int(value or 0))
    if problem.node is not None:
        return f"{label}: {detail or 'invalid input'}"
    return detail or "ComfyUI rejected the workflow"


def as_sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop at the end."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _label(node: NodeRef | None) -> str:
    if node is None:
        return "a node"
    kind = node.type or "node"
    if node.title and node.title != kind:
        return f"'{node.title}' ({kind}, node {node.id})"
    return f"{kind} (node {node.id})"


def _shown(value: object) -> str:
    if value is None:
        return "?"
    return f"'{value}'" if isinstance(value, str) else str(value)


def _or_unknown(value: object) -> str:
    return "?" if value is None else str(value)


def _choices(problem: Problem) -> str:
    if not problem.choices:
        return ""
    shown = ", ".join(problem.choices)
    more = (
        f", … ({problem.choice_count} in all)"
        if problem.choice_count > len(problem.choices)
        else ""
    )
    return f" (allowed: {shown}{more})"


def _too_large(what: str, size: int) -> str:
    return (
        f"{what} ({size / 1_000_000:.1f} MB) is larger than this ComfyUI accepts; "
        "its limit is set with --max-upload-size"
    )


def _file_name(name: str | None, most: int = 80) -> str:
    """A name ComfyUI reported, on one line and cut to ``most`` characters."""
    shown = " ".join((name or "").split())
    return shown if len(shown) <= most else shown[: most - 1] + "…"


def _bytes(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size:,} bytes"


def _without_places(text: str) -> str:
    """``text`` from ComfyUI with web addresses taken out and file paths cut to their name."""
    text = _ADDRESS.sub("(an address)", text)
    return _PATH.sub(lambda found: re.split(r"[\\/]", found.group(0))[-1], text)
