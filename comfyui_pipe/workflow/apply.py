"""Write a user's request into a copy of a workflow."""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from comfyui_pipe.workflow.detect import ParameterMap
from comfyui_pipe.workflow.graph import Graph, Target
from comfyui_pipe.workflow.lora import insert_lora_chain
from comfyui_pipe.workflow.model import Workflow
from comfyui_pipe.workflow.params import SCALAR_PARAMETERS, GenerationParams, PreparedPrompt
from comfyui_pipe.workflow.stages import (
    drop_stages,
    stages_named,
    stages_without_images,
    unavailable_stages,
)
from comfyui_pipe.workflow.validate import input_spec

# Seeds stay exactly representable in JavaScript (the ComfyUI editor, Open WebUI).
MAX_RANDOM_SEED = 2**53 - 1


def apply_parameters(
    workflow: Workflow,
    params: GenerationParams,
    *,
    object_info: Mapping[str, Any] | None = None,
    rng: random.Random | None = None,
) -> PreparedPrompt:
    """A new graph with ``params`` applied; ``workflow`` itself is left untouched.

    Values that are ``None`` fall back to the metadata's defaults, then to the
    graph's own values. Parameters the workflow has no place for are skipped,
    except images: giving one to a workflow without an image input, or none to
    one that needs it, raises :class:`ValueError`, as do values outside the
    metadata's bounds. With ``object_info``, optional stages whose models the
    server lacks are dropped and the random seed respects the input's maximum.
    """
    values = check_values(workflow, params)
    mapping = workflow.meta.mapping
    _check_targets_exist(workflow.graph, workflow.parameters, mapping.fixed)
    graph = copy.deepcopy(workflow.graph)
    skipped = set(params.skip_stages) | stages_without_images(workflow, len(params.images))
    if object_info is not None:
        skipped |= unavailable_stages(workflow, object_info)
    drop_stages(graph, stages_named(workflow, sorted(skipped)))
    parameters = workflow.parameters.within(graph)
    for target, value in mapping.fixed:
        if target.node in graph:
            _write(graph, [target], value)

    if values.get("seed") is None and parameters["seed"]:
        values["seed"] = (rng or random.SystemRandom()).randint(
            0, _seed_limit(graph, parameters["seed"], object_info)
        )
    for name, value in values.items():
        if value is not None:
            _write(graph, parameters[name], value)
    _apply_images(graph, parameters, params.images)
    if params.loras:
        loader = parameters.model_loader or _first_node(parameters["checkpoint"])
        if loader is None:
            raise ValueError(
                f"Workflow '{workflow.title}' has no model loader to attach a LoRA to."
            )
        insert_lora_chain(graph, loader, params.loras)

    applied: dict[str, Any] = {
        name: _read(graph, parameters[name][0]) for name in SCALAR_PARAMETERS if parameters[name]
    }
    if params.images:
        applied["images"] = list(params.images)
    if params.loras:
        applied["loras"] = [tuple(lora) for lora in params.loras]
    if skipped:
        applied["skipped_stages"] = sorted(skipped)
    return PreparedPrompt(graph, applied, parameters.output_nodes)


def check_values(workflow: Workflow, params: GenerationParams) -> dict[str, Any]:
    """The value of every scalar parameter (``params`` over the metadata's defaults);
    raises :class:`ValueError` for one outside the workflow's bounds, or for a number
    of images the workflow does not take."""
    check_image_count(workflow, len(params.images))
    values: dict[str, Any] = {}
    for name in SCALAR_PARAMETERS:
        value = getattr(params, name)
        if value is None:
            value = workflow.meta.defaults.get(name)
        bounds = workflow.meta.bounds.get(name)
        if bounds is not None and value is not None:
            problem = bounds.problem(name, value, workflow.title)
            if problem:
                raise ValueError(problem)
        values[name] = value
    return values


def check_image_count(workflow: Workflow, given: int) -> None:
    """Raise :class:`ValueError` unless ``given`` images fit the workflow's image inputs."""
    slots = workflow.image_inputs
    required = slots - workflow.optional_image_inputs
    if required <= given < slots:
        return  # the stages that read the missing images are dropped
    if given and not slots:
        raise ValueError(
            f"Workflow '{workflow.title}' does not take an input image; "
            "choose an image-to-image model to use the attached image."
        )
    if given < required:
        needed = "an input image" if required == 1 else f"{required} input images"
        raise ValueError(f"Workflow '{workflow.title}' needs {needed}; attach it to the message.")
    if given > slots:
        raise ValueError(
            f"Workflow '{workflow.title}' takes {slots} input image(s), but {given} were attached."
        )


def _apply_images(graph: Graph, parameters: ParameterMap, images: tuple[str, ...]) -> None:
    for slot, image in zip(parameters["images"], images, strict=True):
        _write(graph, [slot], image)


def _seed_limit(
    graph: Graph, targets: tuple[Target, ...], object_info: Mapping[str, Any] | None
) -> int:
    limit = MAX_RANDOM_SEED
    for target in targets:
        spec = input_spec(object_info or {}, graph[target.node].get("class_type"), target.input)
        options = spec[1] if spec and len(spec) > 1 and isinstance(spec[1], Mapping) else {}
        if isinstance(options.get("max"), int):
            limit = min(limit, options["max"])
    return limit


def _check_targets_exist(
    graph: Graph, parameters: ParameterMap, fixed: tuple[tuple[Target, Any], ...]
) -> None:
    named = [(name, t) for name, ts in parameters.targets.items() for t in ts]
    for name, target in [*named, *((f"fixed value {t.input}", t) for t, _ in fixed)]:
        if target.node not in graph:
            raise ValueError(
                f"The mapping for {name} points to node {target.node}, "
                "which is not in the workflow."
            )


def _write(graph: Graph, targets: tuple[Target, ...] | list[Target], value: Any) -> None:
    for target in targets:
        graph[target.node].setdefault("inputs", {})[target.input] = value


def _read(graph: Graph, target: Target) -> Any:
    return graph[target.node].get("inputs", {}).get(target.input)


def _first_node(targets: tuple[Target, ...]) -> str | None:
    return targets[0].node if targets else None
