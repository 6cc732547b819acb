"""Sentences for the problems ComfyUI finds in a prompt before queueing it.

ComfyUI answers a rejected ``POST /prompt`` with ``{error, node_errors}``; the
workflow validator builds the same ``node_errors`` shape locally, so both
paths speak with one voice through :func:`describe_node_errors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .model_lists import combo_options

MODEL_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx")


def _looks_like_model_file(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(MODEL_FILE_SUFFIXES)


def _model_noun(input_name: str, class_type: str | None) -> str:
    name = f"{class_type or ''} {input_name}".lower()
    if "lora" in name:
        return "LoRA"
    if "vae" in name:
        return "VAE"
    if "upscale" in name:
        return "upscale model"
    if "control" in name:
        return "ControlNet model"
    if "clip" in name or "text_encoder" in name:
        return "text encoder"
    return "model"


def _node_label(node_id: str, class_type: str | None, prompt: Mapping[str, Any] | None) -> str:
    node = (prompt or {}).get(node_id) or {}
    title = (node.get("_meta") or {}).get("title") if isinstance(node, Mapping) else None
    kind = class_type or (node.get("class_type") if isinstance(node, Mapping) else None) or "node"
    if title and title != kind:
        return f"'{title}' ({kind}, node {node_id})"
    return f"{kind} (node {node_id})"


def _fmt(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def describe_input_error(
    error: Mapping[str, Any], node_id: str, class_type: str | None, prompt: Mapping[str, Any] | None
) -> str:
    """One sentence for one entry of ``node_errors[id].errors``."""
    kind = error.get("type", "")
    extra = error.get("extra_info") or {}
    details = str(error.get("details") or "")
    input_name = extra.get("input_name") or details.split(":", 1)[0].split(",", 1)[0].strip()
    received = extra.get("received_value")
    config = extra.get("input_config")
    options = config[1] if isinstance(config, list | tuple) and len(config) > 1 else {}
    options = options if isinstance(options, Mapping) else {}
    label = _node_label(node_id, class_type, prompt)

    if kind == "value_not_in_list":
        if received is None:
            match = re.search(r":\s*'(.*)' not in", details)
            received = match.group(1) if match else "?"
        if _looks_like_model_file(received):
            noun = _model_noun(input_name, class_type)
            return f"{noun} '{received}' is not installed on this ComfyUI"
        allowed = _allowed_values(config)
        suffix = f" (allowed: {allowed})" if allowed else ""
        return f"{input_name} {_fmt(received)} is not an allowed value{suffix}"
    if kind == "value_bigger_than_max":
        limit = options.get("max", _number_after(error.get("message", ""), "max"))
        return f"{input_name} {received} is above the maximum {limit}"
    if kind == "value_smaller_than_min":
        limit = options.get("min", _number_after(error.get("message", ""), "min"))
        return f"{input_name} {received} is below the minimum {limit}"
    if kind == "required_input_missing":
        return f"{label} is missing its required input '{input_name}'"
    if kind == "invalid_input_type":
        wanted = config[0] if isinstance(config, list | tuple) and config else "the expected type"
        return f"{input_name} {_fmt(received)} is not a valid {wanted}"
    if kind in ("bad_linked_input", "return_type_mismatch"):
        return f"input '{input_name}' of {label} is connected to the wrong kind of output"
    if kind == "dependency_cycle":
        return f"the workflow has a cycle through {label}"
    if kind == "exception_during_validation":
        if extra.get("exception_type") == "KeyError":
            return f"{label} links to node {details} which is not in the workflow"
        return f"{label} could not be validated: {details or error.get('message', '')}"
    if kind == "custom_validation_failed":
        match = re.search(r"Invalid image file: (.+)$", details)
        if match:
            return f"input image '{match.group(1)}' is not on this ComfyUI (upload it first)"
        return f"{label}: {details or error.get('message', 'validation failed')}"
    message = error.get("message") or kind or "invalid input"
    return f"{label}: {message}" + (f" ({details})" if details else "")


def _allowed_values(config: Any, limit: int = 8) -> str:
    values = combo_options(config)
    if not values:
        return ""
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")


def _number_after(message: str, word: str) -> str:
    match = re.search(rf"{word}\w* of (-?[\d.]+)", message or "")
    return match.group(1) if match else "?"


def describe_node_errors(
    node_errors: Mapping[str, Any], prompt: Mapping[str, Any] | None = None
) -> list[str]:
    """One sentence per problem, in node order, without repeats."""
    sentences: list[str] = []
    for node_id, entry in node_errors.items():
        class_type = entry.get("class_type") if isinstance(entry, Mapping) else None
        for error in (entry or {}).get("errors", []) if isinstance(entry, Mapping) else []:
            sentence = describe_input_error(error, str(node_id), class_type, prompt)
            if sentence not in sentences:
                sentences.append(sentence)
    return sentences


def describe_rejection(
    body: Mapping[str, Any], prompt: Mapping[str, Any] | None = None
) -> list[str]:
    """Sentences for a ``POST /prompt`` 400 body (``{error, node_errors}``)."""
    node_errors = body.get("node_errors") or {}
    sentences = (
        describe_node_errors(node_errors, prompt) if isinstance(node_errors, Mapping) else []
    )
    if sentences:
        return sentences
    error = body.get("error") or {}
    if isinstance(error, str):
        return [error]
    kind = error.get("type", "")
    message = error.get("message", "")
    extra = error.get("extra_info") or {}
    if kind == "missing_node_type" and extra.get("class_type"):
        return [f"node type '{extra['class_type']}' is not installed on this ComfyUI"]
    missing = re.search(r"node (\S+) does not exist", message)
    if kind in ("missing_node_type", "invalid_prompt") and missing:
        return [f"node type '{missing.group(1)}' is not installed on this ComfyUI"]
    if kind == "prompt_no_outputs":
        return ["the workflow has no output node (such as SaveImage)"]
    if kind == "no_prompt":
        return ["no workflow was sent to ComfyUI"]
    if kind == "invalid_prompt_id":
        return ["ComfyUI did not accept the job id"]
    return [message or "ComfyUI rejected the workflow"]
