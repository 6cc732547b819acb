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
from dataclasses import dataclass
from typing import Any

from comfyui_pipe.workflow.ui_graph import (
    SUBGRAPH_INPUT_ID,
    Graph,
    Node,
    UIConversionError,
    Workflow,
    read_workflow,
)
from comfyui_pipe.workflow.ui_widgets import widget_values

__all__ = [
    "FRONTEND_ONLY_TYPES",
    "MissingNodeTypes",
    "UIConversionError",
    "is_ui_workflow",
    "ui_to_api",
]

# Nodes that exist only in the editor: never sent to the server.
FRONTEND_ONLY_TYPES = frozenset({"PrimitiveNode", "Reroute", "Note", "MarkdownNote"})
MUTED = 2
BYPASSED = 4


class MissingNodeTypes(UIConversionError):
    """The workflow needs node types the server does not have."""


def is_ui_workflow(data: Any) -> bool:
    """True for the editor's own format (it has ``nodes`` and ``links``)."""
    return isinstance(data, Mapping) and "nodes" in data and "links" in data


def ui_to_api(data: Mapping[str, Any], object_info: Mapping[str, Any]) -> dict[str, Any]:
    """The API-format prompt the ComfyUI frontend would queue for this UI-format workflow."""
    workflow = read_workflow(data)
    converter = _Converter(workflow, object_info)
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


@dataclass(frozen=True)
class _Place:
    """Where a node sits: the graph, and the subgraph nodes leading to it from the root."""

    graph: Graph
    path: tuple[int, ...] = ()
    host: Node | None = None
    """The subgraph node this graph is the inside of."""
    parent: _Place | None = None

    def execution_id(self, node: Node) -> str:
        return ":".join(str(part) for part in (*self.path, node.id))


@dataclass(frozen=True)
class _Output:
    node_id: str
    slot: int


@dataclass(frozen=True)
class _Value:
    value: Any


class _Converter:
    def __init__(self, workflow: Workflow, object_info: Mapping[str, Any]) -> None:
        self.workflow = workflow
        self.object_info = object_info
        self.primitive_values = _primitive_values(workflow)

    def executed_nodes(self) -> Iterator[tuple[_Place, Node]]:
        """Every node that runs on the server, subgraphs flattened."""
        yield from self._nodes_in(_Place(self.workflow.root))

    def _nodes_in(self, place: _Place) -> Iterator[tuple[_Place, Node]]:
        for node in place.graph.nodes.values():
            inside = self.workflow.subgraphs.get(node.type)
            if node.mode in (MUTED, BYPASSED) and (inside is None or not place.path):
                # the editor drops the inside of a muted or bypassed subgraph node only
                # in the root graph; deeper down, the inside is still sent (unused)
                continue
            if inside is not None:
                yield from self._nodes_in(_Place(inside, (*place.path, node.id), node, place))
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

    def _inputs(self, place: _Place, node: Node) -> dict[str, Any]:
        inputs = {name: _wrap(value) for name, value in self._widget_values(place, node).items()}
        for index, slot in enumerate(node.inputs):
            resolved = self._resolve_input(place, node, index, set())
            if isinstance(resolved, _Output):
                inputs[slot.name] = [resolved.node_id, resolved.slot]
            elif isinstance(resolved, _Value):
                inputs[slot.name] = _wrap(resolved.value)
        return inputs

    def _widget_values(self, place: _Place, node: Node) -> dict[str, Any]:
        """The node's widget values, with what PrimitiveNodes write into them."""
        values = widget_values(self.object_info[node.type], node.widgets_values)
        for name in values:
            override = self.primitive_values.get((id(place.graph), node.id, name))
            if override is not None:
                values[name] = override.value
        return values

    def _resolve_input(
        self, place: _Place, node: Node, index: int, seen: set[Any], kind: str | None = None
    ) -> _Output | _Value | None:
        """What feeds input ``index`` of ``node``: a node's output, a value, or nothing."""
        _visit_once(seen, (id(place.graph), place.path, node.id, "in", index), place, node)
        link_id = node.inputs[index].link if index < len(node.inputs) else None
        link = place.graph.links.get(link_id) if link_id is not None else None
        if link is None:
            return None
        if link.origin_id == SUBGRAPH_INPUT_ID:
            return self._resolve_subgraph_input(place, link.origin_slot, seen)
        origin = place.graph.nodes.get(link.origin_id)
        if origin is None:
            return None
        return self._resolve_output(
            place, origin, link.origin_slot, kind or node.inputs[index].type, seen
        )

    def _resolve_subgraph_input(
        self, place: _Place, index: int, seen: set[Any]
    ) -> _Output | _Value | None:
        """What feeds subgraph input ``index``: the subgraph node's link, else its widget."""
        host, outside = place.host, place.parent
        if host is None or outside is None or index >= len(host.inputs):
            return None
        if host.inputs[index].link is not None:
            return self._resolve_input(outside, host, index, seen)
        return self._promoted_value(place, index)

    def _promoted_value(self, place: _Place, index: int) -> _Value | None:
        """The widget a subgraph node shows for subgraph input ``index``, if it has one.

        The subgraph node has one widget per subgraph input that feeds a widget inside.
        Its saved ``widgets_values`` (when there are any) are those widgets' values in
        input order; otherwise the widget shows the inner widget's own value.
        """
        host, graph = place.host, place.graph
        assert host is not None
        widget_inputs = [
            position
            for position, links in enumerate(graph.input_links)
            if self._fed_widget(graph, links) is not None
        ]
        if index not in widget_inputs:
            return None
        saved = host.widgets_values
        if isinstance(saved, list) and len(saved) == len(widget_inputs):
            return _Value(saved[widget_inputs.index(index)])
        target, widget = self._fed_widget(graph, graph.input_links[index]) or (None, "")
        if target is None or target.type not in self.object_info:
            return None
        values = self._widget_values(place, target)
        return _Value(values[widget]) if widget in values else None

    @staticmethod
    def _fed_widget(graph: Graph, link_ids: list[int]) -> tuple[Node, str] | None:
        """The first inner node widget these links feed: (node, widget name)."""
        for link_id in link_ids:
            link = graph.links.get(link_id)
            target = graph.nodes.get(link.target_id) if link else None
            if link is None or target is None or link.target_slot >= len(target.inputs):
                continue
            widget = target.inputs[link.target_slot].widget
            if widget is not None:
                return target, widget
        return None

    def _resolve_output(
        self, place: _Place, node: Node, slot: int, kind: str, seen: set[Any]
    ) -> _Output | _Value | None:
        """The real node output behind output ``slot`` of ``node``, for an input of ``kind``."""
        _visit_once(seen, (id(place.graph), place.path, node.id, "out", slot), place, node)
        if node.mode == BYPASSED:
            index = _bypass_input(node, slot, kind)
            return None if index < 0 else self._resolve_input(place, node, index, seen)
        inside = self.workflow.subgraphs.get(node.type)
        if inside is not None:
            return self._resolve_subgraph_output(place, node, inside, slot, kind, seen)
        if node.type in FRONTEND_ONLY_TYPES:
            # a Reroute passes its one input through; a PrimitiveNode has already
            # written its value into the widgets it feeds
            return (
                self._resolve_input(place, node, slot, seen, kind)
                if slot < len(node.inputs)
                else None
            )
        return _Output(place.execution_id(node), slot)

    def _resolve_subgraph_output(
        self, place: _Place, node: Node, inside: Graph, slot: int, kind: str, seen: set[Any]
    ) -> _Output | _Value | None:
        if slot >= len(inside.output_links) or not inside.output_links[slot]:
            return None
        link = inside.links.get(inside.output_links[slot][0])
        if link is None:
            return None
        inner_place = _Place(inside, (*place.path, node.id), node, place)
        if link.origin_id == SUBGRAPH_INPUT_ID:
            return self._resolve_subgraph_input(inner_place, link.origin_slot, seen)
        origin = inside.nodes.get(link.origin_id)
        if origin is None:
            return None
        return self._resolve_output(inner_place, origin, link.origin_slot, kind, seen)


def _primitive_values(workflow: Workflow) -> dict[tuple[int, int, str], _Value]:
    """(graph, node, widget) → the value a PrimitiveNode writes into that widget."""
    found: dict[tuple[int, int, str], _Value] = {}
    for graph in (workflow.root, *workflow.subgraphs.values()):
        for node in graph.nodes.values():
            if node.type != "PrimitiveNode" or not isinstance(node.widgets_values, list):
                continue
            if not node.widgets_values:
                continue
            for link_id in (node.output_links or [[]])[0]:
                link = graph.links.get(link_id)
                target = graph.nodes.get(link.target_id) if link else None
                if target is None or link is None or link.target_slot >= len(target.inputs):
                    continue
                widget = target.inputs[link.target_slot].widget
                if widget is not None:
                    found[(id(graph), target.id, widget)] = _Value(node.widgets_values[0])
    return found


def _bypass_input(node: Node, slot: int, kind: str) -> int:
    """The input a bypassed node passes through to output ``slot``; -1 when none fits."""
    inputs = node.inputs
    if kind in ("*", ""):
        return slot if len(inputs) > slot else 0
    output_kind = node.outputs[slot].type if slot < len(node.outputs) else "*"
    if (
        slot < len(inputs)
        and _fits(inputs[slot].type, output_kind)
        and _fits(inputs[slot].type, kind)
    ):
        return slot
    for index, candidate in enumerate(inputs):
        if candidate.type == kind:
            return index
    for index, candidate in enumerate(inputs):
        if _fits(candidate.type, output_kind) and _fits(candidate.type, kind):
            return index
    return -1


def _fits(first: str, second: str) -> bool:
    """Whether a link between these slot types is allowed (``*`` and lists like ``A,B``)."""
    if first in ("", "*") or second in ("", "*") or first == second:
        return True
    left, right = first.lower().split(","), second.lower().split(",")
    return any(a == b for a in left for b in right)


def _wrap(value: Any) -> Any:
    """A list value is wrapped so that the server does not read it as a link."""
    return {"__value__": value} if isinstance(value, list) else value


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def _visit_once(seen: set[Any], key: tuple[Any, ...], place: _Place, node: Node) -> None:
    """Remember ``key``; a second visit means the links run in a loop."""
    if key in seen:
        raise UIConversionError(
            f"Node {place.execution_id(node)} ({node.type}) is fed by a loop of links."
        )
    seen.add(key)
