"""Turn a request into :class:`GenerationParams` within the admin's limits.

The workflow's own rules (its bounds, its number of input images) live in
``workflow/``; :func:`build_params` asks them last, but for the number of images, which
:func:`check_lists` asks first, with the bounds of every list a request holds (the API
asks it before reading any image).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from comfyui_pipe.comfy.problems import MODEL_FILE_SUFFIXES
from comfyui_pipe.workflow import MAX_RANDOM_SEED, GenerationParams, Lora, Workflow
from comfyui_pipe.workflow.apply import check_image_count, check_values
from comfyui_pipe.workflow.model import shown_number

from .errors import RequestError
from .options import LoraRequest, RequestOptions, check_aspect
from .text import check_text

SIZE_MULTIPLE = 64


LORA_STRENGTH_LIMIT = 10.0
"""A LoRA's strength lies within ± this, in the chat and the API alike."""

# The lists a request holds, bounded far above real use. Measured on the 499 workflows
# among the official ComfyUI templates (comfyui-workflow-templates-json 0.1.123) and on
# the bundled workflows:
MAX_LORAS = 16
"""LoRAs one request applies (each one loader node in the prompt). The bundled workflows
load none of their own; 420 templates load none, all but two at most 4, and the most
any loads is 16 ('1_click_multiple_character_angles')."""
MAX_INPUT_IMAGES = 8
"""Input images one request attaches (a workflow's own number of image inputs is checked
too). The bundled workflows take at most 2 (inpainting: the image and its mask); 222
templates take 1, 69 take 2, and the most any takes is 7 (style references)."""
MAX_LORA_NAME_LENGTH = 1024
"""Characters of a LoRA's name, its subfolders included (a file system allows 255 bytes
for each part of a path)."""
REQUEST_OVERHEAD = 1024 * 1024
"""Bytes of a request body beyond its images, prompts and LoRA names: the other fields,
JSON's punctuation and whitespace."""
_JSON_BYTES_PER_CHARACTER = 12
"""The most one character of text can take in JSON (an escaped surrogate pair)."""
_DATA_URL_HEADER = 128
"""``data:image/png;base64,`` and the quotes, with room for a longer media type."""


@dataclass(frozen=True)
class Limits:
    """The admin's bounds, for every workflow."""

    max_size: int = 2048
    max_steps: int = 80
    max_count: int = 4
    max_prompt_length: int = 4000
    max_image_pixels: int = 4096 * 4096
    max_image_bytes: int = 20 * 1024 * 1024


def check_lists(workflow: Workflow | None, loras: int, images: int) -> None:
    """Raise :class:`RequestError` for more LoRAs or input images than any request may
    send, or (given the ``workflow``) more images than it takes. Checked before the
    images are read."""
    if loras > MAX_LORAS:
        raise RequestError(
            f"The request asks for {loras:,} LoRAs; at most {MAX_LORAS} can be applied at once."
        )
    if images > MAX_INPUT_IMAGES:
        raise RequestError(
            f"The request attaches {images:,} images; at most {MAX_INPUT_IMAGES} "
            "can be used at once."
        )
    if workflow is not None:
        try:
            check_image_count(workflow, images)
        except ValueError as error:
            raise RequestError(str(error)) from None


def max_request_bytes(limits: Limits, workflows: Iterable[Workflow]) -> int:
    """The largest body a valid generation request can need: as many images as the
    ``workflows`` take at most, each a base64 data URL within the byte limit, two prompts
    and the LoRA names at the worst JSON escaping, and the rest."""
    images = min(MAX_INPUT_IMAGES, max((w.image_inputs for w in workflows), default=0))
    image_bytes = _DATA_URL_HEADER + 4 * math.ceil(limits.max_image_bytes / 3)
    texts = 2 * limits.max_prompt_length + MAX_LORAS * MAX_LORA_NAME_LENGTH
    return images * image_bytes + texts * _JSON_BYTES_PER_CHARACTER + REQUEST_OVERHEAD


def request_fields(workflow: Workflow) -> list[str]:
    """The request fields ``workflow`` takes (what ``/generate`` accepts and lists for it)."""
    found = workflow.parameters
    fields = {name for name in ("prompt", *_OPTION_TARGETS.values()) if name in found}
    if "width" in found and "height" in found:
        fields |= {"width", "height", "aspect_ratio"}
    if found.model_loader or "checkpoint" in found:
        fields.add("loras")
    if workflow.image_inputs:
        fields.add("images")
    return sorted(field.replace("batch_size", "count") for field in fields)


# Option (as RequestOptions names it) → the workflow parameter it is written to.
_OPTION_TARGETS = {
    "negative_prompt": "negative_prompt",
    "steps": "steps",
    "cfg": "cfg",
    "seed": "seed",
    "count": "batch_size",
}


def build_params(
    workflow: Workflow,
    prompt: str,
    options: RequestOptions,
    defaults: RequestOptions,
    limits: Limits,
    images: list[str],
) -> GenerationParams:
    """The message's ``options`` over the user's ``defaults`` over the workflow's values.

    An aspect ratio keeps the workflow's default area, with sides rounded to
    multiples of 64; ``count`` becomes the batch size. Raises
    :class:`RequestError` for values outside the limits or the workflow's bounds,
    and for a wrong number of ``images``.
    """
    check_lists(workflow, len(options.loras) + len(defaults.loras), len(images))
    check_text("prompt", prompt, limits.max_prompt_length)
    if not prompt.strip() and "prompt" in workflow.parameters:  # an upscaler takes none
        raise RequestError("Write what to generate; the message has no prompt.")
    for text in (options.negative_prompt, defaults.negative_prompt):
        if text is not None:
            check_text("negative prompt", text, limits.max_prompt_length)
    _check_options_taken(workflow, options)
    checker = _Checker(workflow, limits)

    width = height = None
    if "width" in workflow.parameters and "height" in workflow.parameters:
        wanted = options if options.has_size else defaults
        width, height = _size(workflow, wanted, checker)
    elif options.has_size:
        raise RequestError(
            f"Workflow '{workflow.title}' takes its size from the input image; leave out the size."
        )
    seed = _pick(options.seed, defaults.seed)
    if seed is not None and not 0 <= seed <= MAX_RANDOM_SEED:
        raise RequestError(f"Seed {shown_number(seed)} is outside 0 to {MAX_RANDOM_SEED}.")
    negatives = [text for text in (options.negative_prompt, defaults.negative_prompt) if text]
    params = GenerationParams(
        prompt=prompt.strip(),
        negative_prompt=", ".join(negatives) if negatives else None,
        seed=seed,
        steps=checker.check("steps", _pick(options.steps, defaults.steps), 1, limits.max_steps),
        cfg=checker.check("cfg", _pick(options.cfg, defaults.cfg), 0, None),
        width=width,
        height=height,
        batch_size=checker.check(
            "count", _pick(options.count, defaults.count), 1, limits.max_count
        ),
        loras=tuple(_lora(checker, lora) for lora in [*options.loras, *defaults.loras]),
        images=tuple(images),
    )
    try:
        check_values(workflow, params)
    except ValueError as error:
        raise RequestError(str(error)) from None
    return params


class _Checker:
    """Checks a value against the admin's limit."""

    def __init__(self, workflow: Workflow, limits: Limits) -> None:
        self.workflow = workflow
        self.limits = limits

    def check(self, name: str, value: Any, low: float, high: float | None) -> Any:
        if value is None:
            return None
        label = name[0].upper() + name[1:]
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(f"{label} must be a finite number, not {value}.")
        if value < low:
            raise RequestError(
                f"{label} {shown_number(value)} is below the minimum {shown_number(low)}."
            )
        if high is not None and value > high:
            raise RequestError(
                f"{label} {shown_number(value)} is above the maximum {shown_number(high)} "
                "allowed here."
            )
        return value

    def largest_side(self) -> int:
        sides = [self.limits.max_size]
        for name in ("width", "height"):
            bounds = self.workflow.meta.bounds.get(name)
            if bounds is not None and bounds.maximum is not None:
                sides.append(int(bounds.maximum))
        return min(sides)


def _size(
    workflow: Workflow, wanted: RequestOptions, checker: _Checker
) -> tuple[int | None, int | None]:
    width, height = wanted.width, wanted.height
    if wanted.aspect is not None:
        area = _workflow_value(workflow, "width") * _workflow_value(workflow, "height")
        width, height = _aspect_size(area, wanted.aspect, checker.largest_side())
    return (
        checker.check("width", width, SIZE_MULTIPLE, checker.limits.max_size),
        checker.check("height", height, SIZE_MULTIPLE, checker.limits.max_size),
    )


def _aspect_size(area: int, aspect: tuple[int, int], largest: int) -> tuple[int, int]:
    """Sides of ``area`` in ratio ``aspect``, shrunk to fit ``largest``, in multiples of 64."""
    check_aspect(*aspect)
    ratio = aspect[0] / aspect[1]
    width, height = math.sqrt(area * ratio), math.sqrt(area / ratio)
    shrink = min(1.0, largest / max(width, height))
    return _round_side(width * shrink, largest), _round_side(height * shrink, largest)


def _round_side(side: float, largest: int) -> int:
    rounded = max(SIZE_MULTIPLE, round(side / SIZE_MULTIPLE) * SIZE_MULTIPLE)
    return min(rounded, largest // SIZE_MULTIPLE * SIZE_MULTIPLE)


def _workflow_value(workflow: Workflow, name: str) -> int:
    value = workflow.meta.defaults.get(name)
    if value is None:
        target = workflow.parameters[name][0]
        value = workflow.graph[target.node]["inputs"][target.input]
    return int(value)


def _check_options_taken(workflow: Workflow, options: RequestOptions) -> None:
    """Refuse an option the workflow has no place for (the user's saved defaults are
    simply not used there)."""
    for option, parameter in _OPTION_TARGETS.items():
        if getattr(options, option) is not None and parameter not in workflow.parameters:
            raise RequestError(
                f"Workflow '{workflow.title}' has no {option.replace('_', ' ')} setting; "
                "leave it out."
            )
    if options.loras and "loras" not in request_fields(workflow):
        raise RequestError(f"Workflow '{workflow.title}' has no model a LoRA can attach to.")


def _lora(checker: _Checker, lora: LoraRequest) -> Lora:
    check_text("LoRA name", lora.name, MAX_LORA_NAME_LENGTH)
    checker.check(
        f"strength of LoRA '{lora.name}'",
        float(lora.strength),
        -LORA_STRENGTH_LIMIT,
        LORA_STRENGTH_LIMIT,
    )
    name = lora.name
    if not name.lower().endswith(MODEL_FILE_SUFFIXES):
        name += ".safetensors"
    return Lora(name, lora.strength, lora.strength)


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value
