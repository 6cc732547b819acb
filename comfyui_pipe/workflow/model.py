"""A workflow: an API-format graph plus the metadata that describes it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from comfyui_pipe.workflow.detect import ParameterMap, detect_parameters
from comfyui_pipe.workflow.graph import Graph, Target, is_link
from comfyui_pipe.workflow.mapping import ExplicitMapping, parse_mapping

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
                f"{label} {value:g} is below the minimum {self.minimum:g} "
                f"of workflow '{workflow_title}'."
            )
        if self.maximum is not None and value > self.maximum:
            return (
                f"{label} {value:g} is above the maximum {self.maximum:g} "
                f"of workflow '{workflow_title}'."
            )
        return None


@dataclass(frozen=True)
class OptionalStage:
    """Part of a graph that can be dropped (an SDXL refiner, a hires-fix pass).

    Dropping removes ``nodes``, points every link to ``reconnect``'s keys at its
    values, then writes ``settings`` (e.g. let the base sampler finish the job).
    """

    name: str
    nodes: tuple[str, ...]
    reconnect: Mapping[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    settings: tuple[tuple[Target, Any], ...] = ()
    description: str = ""


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
        return cls(
            title=str(data.get("title", "")),
            kind=str(data.get("kind", "txt2img")),
            description=str(data.get("description", "")),
            models=tuple(_model_file(entry) for entry in data.get("models", [])),
            defaults=dict(data.get("defaults", {})),
            bounds={
                name: Bounds(limits.get("min"), limits.get("max"))
                for name, limits in data.get("bounds", {}).items()
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
    graph: Graph = {}
    for node_id, node in data.items():
        if not isinstance(node, Mapping) or "class_type" not in node:
            raise ValueError(
                f"Node {node_id} of workflow '{workflow_id}' has no class_type; export the "
                'workflow from ComfyUI with "Save (API)".'
            )
        inputs = {
            name: [str(value[0]), value[1]] if is_link(value) else value
            for name, value in dict(node.get("inputs") or {}).items()
        }
        graph[str(node_id)] = {**node, "inputs": inputs}
    return graph


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
    )
