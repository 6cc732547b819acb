"""Optional stages (an SDXL refiner, ...) and the models a workflow needs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from comfyui_pipe.comfy.model_lists import combo_options
from comfyui_pipe.workflow.graph import Graph, links_of, replace_links
from comfyui_pipe.workflow.model import ModelFile, OptionalStage, Workflow
from comfyui_pipe.workflow.validate import input_spec


def drop_stages(graph: Graph, stages: Iterable[OptionalStage]) -> None:
    """Remove each stage's nodes from ``graph`` and reconnect what they fed (mutates)."""
    for stage in stages:
        removed = set(stage.nodes)
        for node_id in removed:
            graph.pop(node_id, None)
        for old, new in stage.reconnect.items():
            replace_links(graph, old, list(new), skip=set())
        for node_id in list(graph):
            for name, source, _ in links_of(graph, node_id):
                if source in removed:
                    raise ValueError(
                        f"Dropping the '{stage.name}' stage leaves input '{name}' of node "
                        f"{node_id} unconnected; its metadata must reconnect node {source}."
                    )
        for target, value in stage.settings:
            graph[target.node]["inputs"][target.input] = value


def stages_named(workflow: Workflow, names: Iterable[str]) -> list[OptionalStage]:
    stages = []
    for name in names:
        if name not in workflow.meta.stages:
            known = ", ".join(sorted(workflow.meta.stages)) or "none"
            raise ValueError(
                f"Workflow '{workflow.id}' has no optional stage '{name}' (it has: {known})."
            )
        stages.append(workflow.meta.stages[name])
    return stages


def missing_models(workflow: Workflow, object_info: Mapping[str, Any]) -> list[ModelFile]:
    """The metadata's models that the server's model lists do not offer."""
    return [
        model
        for model in workflow.meta.models
        if not _offered(workflow.graph, model.filename, object_info)
    ]


def unavailable_stages(workflow: Workflow, object_info: Mapping[str, Any]) -> set[str]:
    """Optional stages that cannot run because one of their models is missing."""
    return {
        model.stage
        for model in missing_models(workflow, object_info)
        if model.stage and model.stage in workflow.meta.stages
    }


def stages_without_images(workflow: Workflow, given: int) -> set[str]:
    """Stages that need more images than the ``given`` ones."""
    return {stage.name for stage in workflow.meta.stages.values() if stage.needs_images > given}


def _offered(graph: Graph, filename: str, object_info: Mapping[str, Any]) -> bool:
    """Whether every input naming ``filename`` accepts it on this server."""
    for node in graph.values():
        for name, value in node.get("inputs", {}).items():
            if value != filename:
                continue
            options = combo_options(input_spec(object_info, node.get("class_type"), name))
            if options is not None and filename not in options:
                return False
    return True
