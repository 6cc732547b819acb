"""The problems ComfyUI finds in a prompt before queueing it, as data.

ComfyUI answers a rejected ``POST /prompt`` with ``{error, node_errors}``; the
workflow validator builds the same ``node_errors`` shape locally, so both paths
produce the same :class:`Problem` values through :func:`problems_in_node_errors`.
What a problem is called in a sentence is decided where sentences are made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from .model_lists import combo_options

MODEL_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx")
SHOWN_CHOICES = 8


class ProblemKind(StrEnum):
    MODEL_NOT_INSTALLED = "model_not_installed"
    VALUE_NOT_ALLOWED = "value_not_allowed"
    ABOVE_MAXIMUM = "above_maximum"
    BELOW_MINIMUM = "below_minimum"
    INPUT_MISSING = "input_missing"
    WRONG_TYPE = "wrong_type"
    WRONG_LINK = "wrong_link"
    CYCLE = "cycle"
    LINK_TO_MISSING_NODE = "link_to_missing_node"
    NOT_VALIDATED = "not_validated"
    IMAGE_NOT_UPLOADED = "image_not_uploaded"
    NODE_REFUSED = "node_refused"
    NODE_TYPE_MISSING = "node_type_missing"
    NO_OUTPUT_NODE = "no_output_node"
    NO_WORKFLOW = "no_workflow"
    BAD_JOB_ID = "bad_job_id"
    TOO_LARGE = "too_large"
    OTHER = "other"


class ModelFolder(StrEnum):
    """What kind of model file a loader input takes (for naming a missing one)."""

    MODEL = "model"
    LORA = "lora"
    VAE = "vae"
    UPSCALE = "upscale"
    CONTROLNET = "controlnet"
    TEXT_ENCODER = "text_encoder"


@dataclass(frozen=True)
class NodeRef:
    id: str
    type: str
    title: str | None = None


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    node: NodeRef | None = None
    input: str | None = None
    value: str | int | float | bool | None = None
    limit: str | int | float | None = None
    choices: tuple[str, ...] = ()
    """Some of the allowed values (at most ``SHOWN_CHOICES``)."""
    choice_count: int = 0
    """How many values are allowed in all."""
    model: ModelFolder | None = None
    detail: str = ""


def problems_in_node_errors(
    node_errors: Mapping[str, Any], prompt: Mapping[str, Any] | None = None
) -> list[Problem]:
    """One problem per entry, in node order, without repeats."""
    problems: list[Problem] = []
    for node_id, entry in node_errors.items():
        if not isinstance(entry, Mapping):
            continue
        class_type = entry.get("class_type")
        node = _node_ref(str(node_id), class_type if isinstance(class_type, str) else None, prompt)
        for error in entry.get("errors") or []:
            if isinstance(error, Mapping):
                problem = _input_problem(error, node)
                if problem not in problems:
                    problems.append(problem)
    return problems


def problems_in_rejection(
    body: Mapping[str, Any], prompt: Mapping[str, Any] | None = None
) -> list[Problem]:
    """The problems of a ``POST /prompt`` 400 body (``{error, node_errors}``)."""
    node_errors = body.get("node_errors") or {}
    problems = (
        problems_in_node_errors(node_errors, prompt) if isinstance(node_errors, Mapping) else []
    )
    if problems:
        return problems
    error = body.get("error") or {}
    if isinstance(error, str):
        return [Problem(ProblemKind.OTHER, detail=error)]
    if not isinstance(error, Mapping):
        return [Problem(ProblemKind.OTHER)]
    kind = str(error.get("type", ""))
    message = str(error.get("message", ""))
    extra = error.get("extra_info") or {}
    missing = re.search(r"node (\S+) does not exist", message)
    if kind == "missing_node_type" and isinstance(extra, Mapping) and extra.get("class_type"):
        return [Problem(ProblemKind.NODE_TYPE_MISSING, value=str(extra["class_type"]))]
    if kind in ("missing_node_type", "invalid_prompt") and missing:
        return [Problem(ProblemKind.NODE_TYPE_MISSING, value=missing.group(1))]
    simple = {
        "prompt_no_outputs": ProblemKind.NO_OUTPUT_NODE,
        "no_prompt": ProblemKind.NO_WORKFLOW,
        "invalid_prompt_id": ProblemKind.BAD_JOB_ID,
    }
    return [Problem(simple.get(kind, ProblemKind.OTHER), detail=message)]


def _input_problem(error: Mapping[str, Any], node: NodeRef) -> Problem:
    """The problem of one entry of ``node_errors[id].errors``."""
    kind = error.get("type", "")
    extra = error.get("extra_info") or {}
    extra = extra if isinstance(extra, Mapping) else {}
    details = str(error.get("details") or "")
    message = str(error.get("message") or "")
    input_name = str(extra.get("input_name") or details.split(":", 1)[0].split(",", 1)[0].strip())
    config = extra.get("input_config")
    options = config[1] if isinstance(config, list | tuple) and len(config) > 1 else {}
    options = options if isinstance(options, Mapping) else {}
    at_input = Problem(
        ProblemKind.OTHER, node=node, input=input_name, value=_plain(extra.get("received_value"))
    )

    if kind == "value_not_in_list":
        return _not_in_list(at_input, details, config)
    if kind == "value_bigger_than_max":
        limit = options.get("max", _number_after(message, "max"))
        return replace(at_input, kind=ProblemKind.ABOVE_MAXIMUM, limit=_plain(limit))
    if kind == "value_smaller_than_min":
        limit = options.get("min", _number_after(message, "min"))
        return replace(at_input, kind=ProblemKind.BELOW_MINIMUM, limit=_plain(limit))
    if kind == "required_input_missing":
        return replace(at_input, kind=ProblemKind.INPUT_MISSING, value=None)
    if kind == "invalid_input_type":
        wanted = config[0] if isinstance(config, list | tuple) and config else None
        return replace(at_input, kind=ProblemKind.WRONG_TYPE, limit=_plain(wanted))
    if kind in ("bad_linked_input", "return_type_mismatch"):
        return replace(at_input, kind=ProblemKind.WRONG_LINK, value=None)
    on_node = Problem(ProblemKind.OTHER, node=node, detail=details or message)
    if kind == "dependency_cycle":
        return replace(on_node, kind=ProblemKind.CYCLE, detail="")
    if kind == "exception_during_validation":
        if extra.get("exception_type") == "KeyError":
            return replace(on_node, kind=ProblemKind.LINK_TO_MISSING_NODE, detail=details)
        return replace(on_node, kind=ProblemKind.NOT_VALIDATED)
    if kind == "custom_validation_failed":
        image = re.search(r"Invalid image file: (.+)$", details)
        if image:
            return Problem(ProblemKind.IMAGE_NOT_UPLOADED, node=node, value=image.group(1))
        return replace(on_node, kind=ProblemKind.NODE_REFUSED)
    return replace(on_node, detail=(message or str(kind)) + (f" ({details})" if details else ""))


def _not_in_list(at_input: Problem, details: str, config: Any) -> Problem:
    received = at_input.value
    if received is None:
        match = re.search(r":\s*'(.*)' not in", details)
        received = match.group(1) if match else None
    if isinstance(received, str) and received.lower().endswith(MODEL_FILE_SUFFIXES):
        folder = _model_folder(at_input.input or "", at_input.node.type if at_input.node else "")
        return replace(at_input, kind=ProblemKind.MODEL_NOT_INSTALLED, value=received, model=folder)
    allowed = [str(value) for value in combo_options(config) or ()]
    return replace(
        at_input,
        kind=ProblemKind.VALUE_NOT_ALLOWED,
        value=received,
        choices=tuple(allowed[:SHOWN_CHOICES]),
        choice_count=len(allowed),
    )


def _node_ref(node_id: str, class_type: str | None, prompt: Mapping[str, Any] | None) -> NodeRef:
    node = (prompt or {}).get(node_id)
    node = node if isinstance(node, Mapping) else {}
    meta = node.get("_meta")
    title = meta.get("title") if isinstance(meta, Mapping) else None
    kind = class_type or node.get("class_type")
    return NodeRef(
        node_id, kind if isinstance(kind, str) else "", title if isinstance(title, str) else None
    )


def _model_folder(input_name: str, class_type: str) -> ModelFolder:
    name = f"{class_type} {input_name}".lower()
    for word, folder in (
        ("lora", ModelFolder.LORA),
        ("vae", ModelFolder.VAE),
        ("upscale", ModelFolder.UPSCALE),
        ("control", ModelFolder.CONTROLNET),
        ("clip", ModelFolder.TEXT_ENCODER),
        ("text_encoder", ModelFolder.TEXT_ENCODER),
    ):
        if word in name:
            return folder
    return ModelFolder.MODEL


def _plain(value: Any) -> str | int | float | bool | None:
    """``value`` if it is a plain JSON scalar, else its text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _number_after(message: str, word: str) -> str | None:
    match = re.search(rf"{word}\w* of (-?[\d.]+)", message)
    return match.group(1) if match else None
