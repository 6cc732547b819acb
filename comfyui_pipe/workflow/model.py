"""A workflow: an API-format graph plus the metadata that describes it."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from comfyui_pipe.workflow.detect import OutputKind, ParameterMap, detect_parameters, output_kinds
from comfyui_pipe.workflow.graph import Graph, Target, is_link, links_of
from comfyui_pipe.workflow.limits import check_counts, json_size
from comfyui_pipe.workflow.mapping import ExplicitMapping, parse_mapping
from comfyui_pipe.workflow.params import SCALAR_PARAMETERS

META_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class ModelFile:
    """A model file a workflow needs, and where to get it."""

    folder: str
    filename: str
    url: str = ""
    size_bytes: int | None = None
    sha256: str | None = None
    stage: str | None = None  # set when only an optional stage needs it


@dataclass(frozen=True)
class Bounds:
    minimum: float | None = None
    maximum: float | None = None

    def problem(self, name: str, value: float, workflow_title: str) -> str | None:
        """The sentence saying how ``value`` breaks these bounds, or None when it fits."""
        label = name.capitalize()
        if self.minimum is not None and value < self.minimum:
            return (
                f"{label} {shown_number(value)} is below the minimum "
                f"{shown_number(self.minimum)} of workflow '{workflow_title}'."
            )
        if self.maximum is not None and value > self.maximum:
            return (
                f"{label} {shown_number(value)} is above the maximum "
                f"{shown_number(self.maximum)} of workflow '{workflow_title}'."
            )
        return None


def shown_number(value: float) -> str:
    """A number as a sentence shows it (``6.5``, ``1024``); an integer too long to read
    by its number of digits."""
    if isinstance(value, int) and value.bit_length() > 50:
        return f"a {int(value.bit_length() * 0.30103) + 1}-digit number"
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class OptionalStage:
    """Part of a graph that can be dropped (an SDXL refiner, a hires-fix pass).

    Dropping removes ``nodes``, points every link to ``reconnect``'s keys at its
    values, then writes ``settings`` (e.g. let the base sampler finish the job).
    A stage with ``needs_images`` runs only when that many images are attached
    (an inpaint mask given as a second image), and is dropped otherwise.
    """

    name: str
    nodes: tuple[str, ...]
    reconnect: Mapping[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    settings: tuple[tuple[Target, Any], ...] = ()
    description: str = ""
    needs_images: int = 0


@dataclass(frozen=True)
class WorkflowMeta:
    title: str = ""
    kind: str = "txt2img"
    description: str = ""
    models: tuple[ModelFile, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    bounds: Mapping[str, Bounds] = field(default_factory=dict)
    stages: Mapping[str, OptionalStage] = field(default_factory=dict)
    mapping: ExplicitMapping = field(default_factory=ExplicitMapping)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowMeta:
        """Raises ``ValueError`` (a sentence) for a default or bound of the wrong type."""
        return cls(
            title=str(data.get("title", "")),
            kind=str(data.get("kind", "txt2img")),
            description=str(data.get("description", "")),
            models=tuple(_model_file(entry) for entry in data.get("models", [])),
            defaults=_checked_defaults(data.get("defaults", {})),
            bounds={
                name: _checked_bounds(name, limits)
                for name, limits in _mapping("bounds", data.get("bounds", {})).items()
            },
            stages={name: _stage(name, spec) for name, spec in data.get("stages", {}).items()},
            mapping=parse_mapping(data.get("mapping")),
        )


@dataclass(frozen=True)
class Workflow:
    """A loaded workflow. Never mutated: applying parameters works on a copy."""

    id: str
    graph: Graph
    meta: WorkflowMeta = field(default_factory=WorkflowMeta)

    @property
    def title(self) -> str:
        return self.meta.title or self.id

    @cached_property
    def parameters(self) -> ParameterMap:
        """Where each generation parameter is written: found in the graph's wiring,
        parameter by parameter overridden by the metadata's explicit mapping."""
        return detect_parameters(self.graph).overridden_by(self.meta.mapping.targets)

    @property
    def image_inputs(self) -> int:
        return len(self.parameters["images"])

    @property
    def optional_image_inputs(self) -> int:
        """Image inputs that stages with ``needs_images`` drop when fewer are attached."""
        optional = {
            node
            for stage in self.meta.stages.values()
            if stage.needs_images
            for node in stage.nodes
        }
        return sum(1 for target in self.parameters["images"] if target.node in optional)

    @cached_property
    def output_kinds(self) -> tuple[OutputKind, ...]:
        """What a run produces (image, animated, video, audio, text), read from its
        output nodes."""
        return output_kinds(self.graph, self.parameters.output_nodes)


def parse_workflow(
    data: Mapping[str, Any] | str,
    workflow_id: str,
    meta: Mapping[str, Any] | WorkflowMeta | None = None,
) -> Workflow:
    """Build a :class:`Workflow` from API-format JSON (text or already parsed)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as error:
            raise ValueError(f"Workflow '{workflow_id}' is not valid JSON: {error}.") from None
    if not isinstance(meta, WorkflowMeta):
        meta = WorkflowMeta.from_dict(meta or {})
    return Workflow(workflow_id, _api_graph(data, workflow_id), meta)


def load_workflow(path: Path | str) -> Workflow:
    """Load ``<id>.json`` and, when present next to it, ``<id>.meta.json``."""
    path = Path(path)
    workflow_id = path.name.removesuffix(".json")
    meta_path = path.with_name(workflow_id + META_SUFFIX)
    meta = json.loads(meta_path.read_text("utf-8")) if meta_path.exists() else None
    return parse_workflow(path.read_text("utf-8"), workflow_id, meta)


def _api_graph(data: Any, workflow_id: str) -> Graph:
    if isinstance(data, Mapping) and "nodes" in data and "links" in data:
        raise ValueError(
            f"Workflow '{workflow_id}' is in the editor's UI format, which ComfyUI cannot run. "
            'Export it from ComfyUI with "Save (API)" (Workflow menu → Export (API)).'
        )
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"Workflow '{workflow_id}' must be a non-empty API-format JSON object.")
    check_counts(len(data), 0)
    json_size(data)  # refuses lists and objects nested deeper than the limit
    graph: Graph = {}
    for node_id, node in data.items():
        where = f"Node {node_id} of workflow '{workflow_id}'"
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
            raise ValueError(
                f'{where} has no class_type; export the workflow from ComfyUI with "Save (API)".'
            )
        if not isinstance(node.get("_meta") or {}, Mapping):
            raise ValueError(f"{where} has a _meta that is not an object.")
        inputs = node.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            raise ValueError(f"{where} must list its inputs as an object of names and values.")
        for name, value in inputs.items():
            if not _finite(value):
                raise ValueError(f"{where} has input '{name}' set to a number that is not finite.")
        graph[str(node_id)] = {
            **node,
            "inputs": {
                name: [str(value[0]), value[1]] if is_link(value) else value
                for name, value in inputs.items()
            },
        }
    check_counts(len(graph), sum(1 for node_id in graph for _ in links_of(graph, node_id)))
    _check_links(graph, workflow_id)
    return graph


def _finite(value: Any) -> bool:
    """Whether every number in ``value`` is finite (JSON may carry Infinity and NaN)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    return True


def _check_links(graph: Graph, workflow_id: str) -> None:
    """Raise ``ValueError`` for a link to a node the graph lacks, or for a cycle."""
    for node_id in graph:
        for name, source, _ in links_of(graph, node_id):
            if source not in graph:
                raise ValueError(
                    f"Node {node_id} of workflow '{workflow_id}' links its input '{name}' to "
                    f"node {source}, which is not in the workflow."
                )
    done: set[str] = set()
    for start in graph:
        path: list[tuple[str, list[str]]] = []
        on_path: set[str] = set()
        if start not in done:
            path.append((start, [source for _, source, _ in links_of(graph, start)]))
            on_path.add(start)
        while path:
            node_id, sources = path[-1]
            if not sources:
                path.pop()
                on_path.discard(node_id)
                done.add(node_id)
                continue
            source = sources.pop()
            if source in on_path:
                raise ValueError(
                    f"Workflow '{workflow_id}' has a cycle through node {source}; "
                    "ComfyUI cannot run a graph whose nodes feed themselves."
                )
            if source not in done:
                path.append((source, [s for _, s, _ in links_of(graph, source)]))
                on_path.add(source)


_NUMBER_PARAMETERS = {
    "seed": int,
    "steps": int,
    "width": int,
    "height": int,
    "batch_size": int,
    "cfg": float,
    "denoise": float,
}


def _mapping(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"The metadata's {name} must be an object of parameter names.")
    return value


def _checked_defaults(defaults: Any) -> dict[str, Any]:
    """The metadata's defaults, each of the type its parameter takes."""
    for name, value in _mapping("defaults", defaults).items():
        if name not in SCALAR_PARAMETERS:
            known = ", ".join(SCALAR_PARAMETERS)
            raise ValueError(f"The default '{name}' is not a parameter; known: {known}.")
        kind = _NUMBER_PARAMETERS.get(name, str)
        if kind is str:
            if not isinstance(value, str):
                raise ValueError(f"The default {name} must be text, not {value!r}.")
        elif not _is_number(value, whole=kind is int):
            noun = "a whole number" if kind is int else "a finite number"
            raise ValueError(f"The default {name} must be {noun}, not {value!r}.")
    return dict(defaults)


def _checked_bounds(name: str, limits: Any) -> Bounds:
    if name not in _NUMBER_PARAMETERS:
        known = ", ".join(_NUMBER_PARAMETERS)
        raise ValueError(f"Bounds are for numbers ({known}), not for '{name}'.")
    limits = _mapping(f"bounds for {name}", limits)
    minimum, maximum = limits.get("min"), limits.get("max")
    for value in (minimum, maximum):
        if value is not None and not _is_number(value, whole=False):
            raise ValueError(f"The bounds of {name} must be finite numbers, not {value!r}.")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ValueError(f"The bounds of {name} have a minimum above their maximum.")
    return Bounds(minimum, maximum)


def _is_number(value: Any, *, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return whole or abs(value) <= sys.float_info.max
    return not whole and math.isfinite(value)


def _model_file(entry: Mapping[str, Any]) -> ModelFile:
    return ModelFile(
        folder=entry["folder"],
        filename=entry["filename"],
        url=entry.get("url", ""),
        size_bytes=entry.get("size_bytes"),
        sha256=entry.get("sha256"),
        stage=entry.get("stage"),
    )


def _stage(name: str, spec: Mapping[str, Any]) -> OptionalStage:
    return OptionalStage(
        name=name,
        nodes=tuple(str(node) for node in spec.get("remove_nodes", [])),
        reconnect={
            (str(item["from"][0]), int(item["from"][1])): (str(item["to"][0]), int(item["to"][1]))
            for item in spec.get("reconnect", [])
        },
        settings=tuple(
            (Target(str(item["node"]), item["input"]), item["value"])
            for item in spec.get("set", [])
        ),
        description=spec.get("description", ""),
        needs_images=int(spec.get("needs_images", 0)),
    )
