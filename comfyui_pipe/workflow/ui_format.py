"""UI-format (editor) workflows to API-format prompts, the way ComfyUI's frontend does it.

ComfyUI's server runs only API-format prompts; its web editor converts its own graph in
the browser (``graphToPrompt``). This does the same with the server's ``object_info``:

- widget values become inputs, in the node's input order (see :mod:`.ui_widgets`);
- links (array or dict form) become ``[node id, output slot]``, followed through
  Reroutes, bypassed nodes (mode 4: the first input of a matching type is passed
  through) and subgraphs, which are flattened with ids like ``"12:5"`` (the path of
  subgraph nodes, then the inner node's id);
- a PrimitiveNode's value is written into the widgets it feeds;
- muted nodes (mode 2), notes and the other editor-only nodes are left out, and so is
  every input linked to a node that was left out.

Where the editor's own behaviour is surprising, this follows it (checked against the
real frontend by ``bench/ui_conversion_vs_frontend.py``): subgraph node ids already used
elsewhere are renumbered, and only a root-level muted or bypassed subgraph node takes its
inside with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from comfyui_pipe.workflow.limits import WorkflowTooLarge
from comfyui_pipe.workflow.ui_expansion import check_expansion
from comfyui_pipe.workflow.ui_graph import (
    BYPASSED,
    FRONTEND_ONLY_TYPES,
    MUTED,
    Node,
    UIConversionError,
    Workflow,
    read_workflow,
)
from comfyui_pipe.workflow.ui_links import LinkResolver, Output, Place, Value, primitive_values
from comfyui_pipe.workflow.ui_shape import read_shape
from comfyui_pipe.workflow.ui_widgets import widget_values

__all__ = [
    "FRONTEND_ONLY_TYPES",
    "MissingNodeTypes",
    "UIConversionError",
    "WorkflowTooLarge",
    "is_ui_workflow",
    "ui_to_api",
]


class MissingNodeTypes(UIConversionError):
    """The workflow needs node types the server does not have."""


def is_ui_workflow(data: Any) -> bool:
    """True for the editor's own format (it has ``nodes`` and ``links``)."""
    return isinstance(data, Mapping) and "nodes" in data and "links" in data


def ui_to_api(data: Mapping[str, Any], object_info: Mapping[str, Any]) -> dict[str, Any]:
    """The API-format prompt the ComfyUI frontend would queue for this UI-format workflow.

    Raises :class:`UIConversionError` (a sentence) for a workflow out of shape, and
    :class:`WorkflowTooLarge` for one beyond the limits of :mod:`.limits` — both before
    anything is expanded.
    """
    shape = read_shape(data)
    check_expansion(data, shape)
    converter = _Converter(read_workflow(shape), object_info)
    missing = sorted(
        {node.type for _, node in converter.executed_nodes() if node.type not in object_info}
    )
    if missing:
        raise MissingNodeTypes(
            "The workflow uses node types this ComfyUI server does not have: "
            + ", ".join(missing)
            + "."
        )
    return converter.prompt()


class _Converter:
    def __init__(self, workflow: Workflow, object_info: Mapping[str, Any]) -> None:
        self.workflow = workflow
        self.object_info = object_info
        self.primitive_values = primitive_values(workflow)
        self.links = LinkResolver(workflow, self._widget_values)

    def executed_nodes(self) -> Iterator[tuple[Place, Node]]:
        """Every node that runs on the server, subgraphs flattened (in the editor's order)."""
        root = Place(self.workflow.root)
        pending: list[tuple[Place, Iterator[Node]]] = [(root, iter(root.graph.nodes.values()))]
        while pending:
            place, nodes = pending[-1]
            node = next(nodes, None)
            if node is None:
                pending.pop()
                continue
            inside = self.workflow.subgraphs.get(node.type)
            if node.mode in (MUTED, BYPASSED) and (inside is None or not place.path):
                # the editor drops the inside of a muted or bypassed subgraph node only
                # in the root graph; deeper down, the inside is still sent (unused)
                continue
            if inside is not None:
                inner = place.inside(node, inside)
                pending.append((inner, iter(inside.nodes.values())))
            elif node.type not in FRONTEND_ONLY_TYPES:
                yield place, node

    def prompt(self) -> dict[str, Any]:
        prompt: dict[str, dict[str, Any]] = {
            place.execution_id(node): {
                "inputs": self._inputs(place, node),
                "class_type": node.type,
                "_meta": {"title": node.title or node.type},
            }
            for place, node in self.executed_nodes()
        }
        for entry in prompt.values():
            entry["inputs"] = {
                name: value
                for name, value in entry["inputs"].items()
                if not (_is_link(value) and value[0] not in prompt)
            }
        return prompt

    def _inputs(self, place: Place, node: Node) -> dict[str, Any]:
        inputs = {name: _wrap(value) for name, value in self._widget_values(place, node).items()}
        for index, slot in enumerate(node.inputs):
            resolved = self.links.resolve_input(place, node, index)
            if isinstance(resolved, Output):
                inputs[slot.name] = [resolved.node_id, resolved.slot]
            elif isinstance(resolved, Value):
                inputs[slot.name] = _wrap(resolved.value)
        return inputs

    def _widget_values(self, place: Place, node: Node) -> dict[str, Any]:
        """The node's widget values, with what PrimitiveNodes write into them (none for a
        node type the server lacks)."""
        schema = self.object_info.get(node.type)
        if schema is None:
            return {}
        values = widget_values(schema, node.widgets_values)
        for name in values:
            override = self.primitive_values.get((id(place.graph), node.id, name))
            if override is not None:
                values[name] = override.value
        return values


def _wrap(value: Any) -> Any:
    """A list value is wrapped so that the server does not read it as a link."""
    return {"__value__": value} if isinstance(value, list) else value


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
