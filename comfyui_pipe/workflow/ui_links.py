"""What feeds a node's input in a UI-format workflow: the real node output or value behind
Reroutes, bypassed nodes (mode 4: the first input of a matching type is passed through),
PrimitiveNodes and subgraph boundaries.

A link is followed one step at a time in a loop, never by recursion, so a chain of any
length is followed in constant stack; each step's answer is kept, so a chain shared by
many inputs is followed once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ClassVar

from comfyui_pipe.workflow.limits import MAX_LINK_WORK, WorkflowTooLarge
from comfyui_pipe.workflow.ui_graph import (
    BYPASSED,
    FRONTEND_ONLY_TYPES,
    SUBGRAPH_INPUT_ID,
    Graph,
    Node,
    UIConversionError,
    Workflow,
)


@dataclass(frozen=True)
class Place:
    """Where a node sits: the graph, and the subgraph nodes leading to it from the root."""

    graph: Graph
    path: tuple[int, ...] = ()
    host: Node | None = None
    """The subgraph node this graph is the inside of."""
    parent: Place | None = None

    def execution_id(self, node: Node) -> str:
        return ":".join(str(part) for part in (*self.path, node.id))

    def inside(self, host: Node, graph: Graph) -> Place:
        return Place(graph, (*self.path, host.id), host, self)


@dataclass(frozen=True)
class Output:
    node_id: str
    slot: int


@dataclass(frozen=True)
class Value:
    value: Any


Resolved = Output | Value | None


@dataclass(frozen=True, eq=False)
class _AtSlot:
    """A slot of ``node`` followed for an input of ``kind`` (None: the slot's own type)."""

    place: Place
    node: Node
    slot: int
    kind: str | None = None
    side: ClassVar[str]

    def key(self) -> tuple[Hashable, ...]:
        return (self.place.path, self.node.id, self.side, self.slot)


class _FromInput(_AtSlot):
    """What feeds input ``slot`` of ``node``."""

    side = "in"


class _FromOutput(_AtSlot):
    """The real output behind output ``slot`` of ``node``."""

    side = "out"


@dataclass(frozen=True, eq=False)
class _FromSubgraphInput:
    """What feeds subgraph input ``index`` of the graph at ``place``."""

    place: Place
    index: int

    def key(self) -> tuple[Hashable, ...]:
        return (self.place.path, "subgraph input", self.index)


_Step = _FromInput | _FromOutput | _FromSubgraphInput
WidgetValues = Callable[[Place, Node], dict[str, Any]]


class LinkResolver:
    """Resolves inputs of one workflow; ``widget_values`` gives a node's widget values."""

    def __init__(self, workflow: Workflow, widget_values: WidgetValues) -> None:
        self._workflow = workflow
        self._widget_values = widget_values
        self._answers: dict[tuple[Hashable, ...], Resolved] = {}
        self._widget_inputs: dict[int, dict[int, int]] = {}
        self.work = 0
        """Steps taken and bypassed inputs looked at so far (see ``MAX_LINK_WORK``)."""

    def resolve_input(self, place: Place, node: Node, index: int) -> Resolved:
        """What feeds input ``index`` of ``node``: a node's output, a value, or nothing.

        Raises :class:`UIConversionError` when the links run in a loop.
        """
        step: _Step | Resolved = _FromInput(place, node, index)
        followed: list[tuple[Hashable, ...]] = []
        visited: set[tuple[Hashable, ...]] = set()
        while isinstance(step, _FromInput | _FromOutput | _FromSubgraphInput):
            key = step.key()
            answer_key = (*key, step.kind) if not isinstance(step, _FromSubgraphInput) else key
            if answer_key in self._answers:
                step = self._answers[answer_key]
                break
            if key in visited:
                assert not isinstance(step, _FromSubgraphInput)  # always entered from an input
                raise UIConversionError(
                    f"Node {step.place.execution_id(step.node)} ({step.node.type}) "
                    "is fed by a loop of links."
                )
            visited.add(key)
            followed.append(answer_key)
            self._spend(1)
            step = self._next(step)
        for answer_key in followed:  # every step of a chain leads to the same answer
            self._answers[answer_key] = step
        return step

    def _spend(self, work: int) -> None:
        self.work += work
        if self.work > MAX_LINK_WORK:
            raise WorkflowTooLarge(
                f"Following the workflow's links takes more than {MAX_LINK_WORK:,} steps "
                "(long chains of Reroutes or bypassed nodes, or bypassed nodes with many "
                "inputs); ComfyUI's own templates take under a thousand."
            )

    def _next(self, step: _Step) -> _Step | Resolved:
        if isinstance(step, _FromInput):
            return self._from_input(step)
        if isinstance(step, _FromOutput):
            return self._from_output(step)
        return self._from_subgraph_input(step.place, step.index)

    def _from_input(self, step: _FromInput) -> _Step | Resolved:
        place, node, index = step.place, step.node, step.slot
        link_id = node.inputs[index].link if 0 <= index < len(node.inputs) else None
        link = place.graph.links.get(link_id) if link_id is not None else None
        if link is None:
            return None
        if link.origin_id == SUBGRAPH_INPUT_ID:
            return _FromSubgraphInput(place, link.origin_slot)
        origin = place.graph.nodes.get(link.origin_id)
        if origin is None:
            return None
        return _FromOutput(place, origin, link.origin_slot, step.kind or node.inputs[index].type)

    def _from_subgraph_input(self, place: Place, index: int) -> _Step | Resolved:
        """The subgraph node's link into input ``index``, else its widget's value."""
        host, outside = place.host, place.parent
        if host is None or outside is None or not 0 <= index < len(host.inputs):
            return None
        if host.inputs[index].link is not None:
            return _FromInput(outside, host, index)
        return self._promoted_value(place, index)

    def _promoted_value(self, place: Place, index: int) -> Value | None:
        """The widget a subgraph node shows for subgraph input ``index``, if it has one.

        The subgraph node has one widget per subgraph input that feeds a widget inside.
        Its saved ``widgets_values`` (when there are any) are those widgets' values in
        input order; otherwise the widget shows the inner widget's own value.
        """
        host, graph = place.host, place.graph
        assert host is not None
        widget_inputs = self._widget_inputs_of(graph)
        if index not in widget_inputs:
            return None
        saved = host.widgets_values
        if isinstance(saved, list) and len(saved) == len(widget_inputs):
            return Value(saved[widget_inputs[index]])
        target, widget = _fed_widget(graph, graph.input_links[index]) or (None, "")
        if target is None:
            return None
        values = self._widget_values(place, target)
        return Value(values[widget]) if widget in values else None

    def _widget_inputs_of(self, graph: Graph) -> dict[int, int]:
        """Subgraph input → its place among the subgraph node's widgets (those that feed
        a widget inside)."""
        known = self._widget_inputs.get(id(graph))
        if known is None:
            positions = [
                position
                for position, link_ids in enumerate(graph.input_links)
                if _fed_widget(graph, link_ids) is not None
            ]
            known = {position: order for order, position in enumerate(positions)}
            self._widget_inputs[id(graph)] = known
        return known

    def _from_output(self, step: _FromOutput) -> _Step | Resolved:
        place, node, slot, kind = step.place, step.node, step.slot, step.kind
        if node.mode == BYPASSED:
            self._spend(len(node.inputs))
            index = _bypass_input(node, slot, kind or "")
            return None if index < 0 else _FromInput(place, node, index)
        inside = self._workflow.subgraphs.get(node.type)
        if inside is not None:
            return _from_subgraph_output(place.inside(node, inside), slot, kind)
        if node.type in FRONTEND_ONLY_TYPES:
            # a Reroute passes its one input through; a PrimitiveNode has already
            # written its value into the widgets it feeds
            return _FromInput(place, node, slot, kind) if 0 <= slot < len(node.inputs) else None
        return Output(place.execution_id(node), slot)


def _from_subgraph_output(inner: Place, slot: int, kind: str | None) -> _Step | Resolved:
    """What reaches output ``slot`` of the subgraph at ``inner`` from inside it."""
    inside = inner.graph
    if not 0 <= slot < len(inside.output_links) or not inside.output_links[slot]:
        return None
    link = inside.links.get(inside.output_links[slot][0])
    if link is None:
        return None
    if link.origin_id == SUBGRAPH_INPUT_ID:
        return _FromSubgraphInput(inner, link.origin_slot)
    origin = inside.nodes.get(link.origin_id)
    if origin is None:
        return None
    return _FromOutput(inner, origin, link.origin_slot, kind)


def _fed_widget(graph: Graph, link_ids: list[int]) -> tuple[Node, str] | None:
    """The first inner node widget these links feed: (node, widget name)."""
    fed = (_widget_fed_by(graph, link_id) for link_id in link_ids)
    return next((found for found in fed if found is not None), None)


def _widget_fed_by(graph: Graph, link_id: int) -> tuple[Node, str] | None:
    """The node and widget that link ``link_id`` feeds, if it feeds a converted widget."""
    link = graph.links.get(link_id)
    target = graph.nodes.get(link.target_id) if link else None
    if link is None or target is None or not 0 <= link.target_slot < len(target.inputs):
        return None
    widget = target.inputs[link.target_slot].widget
    return None if widget is None else (target, widget)


def primitive_values(workflow: Workflow) -> dict[tuple[int, int, str], Value]:
    """(graph, node, widget) → the value a PrimitiveNode writes into that widget."""
    found: dict[tuple[int, int, str], Value] = {}
    for graph in (workflow.root, *workflow.subgraphs.values()):
        for node in graph.nodes.values():
            if node.type != "PrimitiveNode" or not isinstance(node.widgets_values, list):
                continue
            if not node.widgets_values:
                continue
            for link_id in (node.output_links or [[]])[0]:
                fed = _widget_fed_by(graph, link_id)
                if fed is not None:
                    target, widget = fed
                    found[(id(graph), target.id, widget)] = Value(node.widgets_values[0])
    return found


def _bypass_input(node: Node, slot: int, kind: str) -> int:
    """The input a bypassed node passes through to output ``slot``; -1 when none fits."""
    inputs = node.inputs
    if kind in ("*", ""):
        return slot if len(inputs) > slot else 0
    output_kind = node.outputs[slot].type if 0 <= slot < len(node.outputs) else "*"
    if (
        0 <= slot < len(inputs)
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
