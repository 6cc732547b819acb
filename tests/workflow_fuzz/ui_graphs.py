"""Valid UI-format workflows, as the editor saves them: nodes wired where types match (root
links as arrays or dicts), Reroutes, PrimitiveNodes feeding converted widgets, notes,
muted and bypassed nodes, and subgraph definitions (nested, with inputs and outputs) used
by any number of nodes. Each comes with the number of nodes its API prompt must have."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from hypothesis import strategies as st

from .nodes import SOCKET_TYPES, TEXT, Draw, NodePlan, Origin, buildable, finishing_kinds, plan_node

SUBGRAPH_INPUT = -10
SUBGRAPH_OUTPUT = -20
MODES = (0, 0, 0, 0, 0, 0, 2, 4)  # mostly active; muted (2) and bypassed (4) now and then
EXTRAS = ("reroute", "primitive", "note", "subgraph")


@dataclass(frozen=True)
class UISample:
    body: dict[str, Any]
    executed: int
    """Nodes its API prompt holds: every node that runs, subgraphs expanded."""


@dataclass
class _Graph:
    """The root graph or a subgraph definition being built."""

    dict_links: bool
    nodes: dict[int, dict[str, Any]] = field(default_factory=dict)
    links: list[Any] = field(default_factory=list)
    available: list[Origin] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    executed: int = 0


class _Builder:
    def __init__(self, draw: Draw, object_info: Mapping[str, Any]) -> None:
        self.draw = draw
        self.object_info = object_info
        self.node_ids = count(1)
        self.link_ids = count(1)
        self.subgraphs: list[dict[str, Any]] = []
        self.executed_inside: dict[str, int] = {}

    def fill(self, graph: _Graph, size: int, root: bool) -> None:
        for _ in range(size):
            extra = self.draw(st.sampled_from((None,) * 4 + EXTRAS * 2 + ("subgraph",) * 2))
            if extra == "reroute" and graph.available:
                self._reroute(graph)
            elif extra == "note":
                kind = self.draw(st.sampled_from(("Note", "MarkdownNote")))
                self._add(graph, kind, widgets_values=[self.draw(TEXT)])
            elif extra == "subgraph" and self.subgraphs:
                self._subgraph_node(graph, self.draw(st.sampled_from(self.subgraphs)), root)
            else:
                self.plain(graph, primitive=extra == "primitive")

    def _add(self, graph: _Graph, kind: str, mode: int = 0, **fields: Any) -> dict[str, Any]:
        node_id = next(self.node_ids)
        node = {"id": node_id, "type": kind, "mode": mode, "inputs": [], "outputs": []}
        graph.nodes[node_id] = node | fields
        return graph.nodes[node_id]

    def wire(self, graph: _Graph, origin: Origin, target: int, slot: int) -> int:
        link_id = next(self.link_ids)
        ends = (origin.node, origin.slot, target, slot)
        if graph.dict_links:
            names = ("origin_id", "origin_slot", "target_id", "target_slot")
            graph.links.append(
                {"id": link_id, **dict(zip(names, ends, strict=True)), "type": origin.type}
            )
        else:
            graph.links.append([link_id, *ends, origin.type])
        if origin.node == SUBGRAPH_INPUT:
            graph.inputs[origin.slot]["linkIds"].append(link_id)
        else:
            graph.nodes[origin.node]["outputs"][origin.slot]["links"].append(link_id)
        return link_id

    def _outputs(self, graph: _Graph, node: dict[str, Any], types: list[str]) -> None:
        node["outputs"] = [{"name": kind, "type": kind, "links": []} for kind in types]
        graph.available += [Origin(node["id"], slot, kind) for slot, kind in enumerate(types)]

    def plain(self, graph: _Graph, primitive: bool = False, kind: str | None = None) -> None:
        kind = kind or self.draw(st.sampled_from(buildable(self.object_info, graph.available)))
        plan = plan_node(self.draw, self.object_info, kind, graph.available)
        if plan is None:
            return
        mode = self.draw(st.sampled_from(MODES))
        values = [value for widget, value in plan.widgets if widget.saved]
        node = self._add(graph, plan.kind, mode, widgets_values=values)
        for slot, (name, kind, origin) in enumerate(plan.sockets):
            link = self.wire(graph, origin, node["id"], slot) if origin else None
            node["inputs"].append({"name": name, "type": kind, "link": link})
        if primitive:
            self._primitive_into(graph, node, plan)
        self._outputs(graph, node, plan.outputs)
        graph.executed += mode == 0

    def _primitive_into(self, graph: _Graph, node: dict[str, Any], plan: NodePlan) -> None:
        """A PrimitiveNode feeding one of the node's whole-number widgets, converted to an
        input."""
        numbers = [w.name for w, value in plan.widgets if w.sent and type(value) is int]
        if not numbers:
            return
        widget = self.draw(st.sampled_from(numbers))
        value = self.draw(st.integers(0, 64))
        primitive = self._add(graph, "PrimitiveNode", widgets_values=[value, "fixed"])
        primitive["outputs"] = [
            {"name": "INT", "type": "INT", "links": [], "widget": {"name": widget}}
        ]
        slot = len(node["inputs"])
        link = self.wire(graph, Origin(primitive["id"], 0, "INT"), node["id"], slot)
        node["inputs"].append(
            {"name": widget, "type": "INT", "link": link, "widget": {"name": widget}}
        )

    def _reroute(self, graph: _Graph) -> None:
        origin = self.draw(st.sampled_from(graph.available))
        reroute = self._add(graph, "Reroute")
        link = self.wire(graph, origin, reroute["id"], 0)
        reroute["inputs"] = [{"name": "", "type": "*", "link": link}]
        self._outputs(graph, reroute, [origin.type])

    def _subgraph_node(self, graph: _Graph, subgraph: dict[str, Any], root: bool) -> None:
        mode = self.draw(st.sampled_from(MODES))
        node = self._add(graph, subgraph["id"], mode, widgets_values=[])
        for slot, wanted in enumerate(subgraph["inputs"]):
            fitting = [origin for origin in graph.available if origin.type == wanted["type"]]
            origin = self.draw(st.sampled_from(fitting)) if fitting else None
            link = self.wire(graph, origin, node["id"], slot) if origin else None
            node["inputs"].append({"name": wanted["name"], "type": wanted["type"], "link": link})
        self._outputs(graph, node, [output["type"] for output in subgraph["outputs"]])
        # the editor drops the inside of a muted or bypassed subgraph node at the root only
        if not root or mode == 0:
            graph.executed += self.executed_inside[subgraph["id"]]

    def define_subgraph(self, index: int) -> None:
        kinds = self.draw(st.lists(st.sampled_from(SOCKET_TYPES), max_size=3))
        inside = _Graph(dict_links=True)
        inside.inputs = [
            {"name": f"in{n}", "type": kind, "linkIds": []} for n, kind in enumerate(kinds)
        ]
        inside.available = [Origin(SUBGRAPH_INPUT, n, kind) for n, kind in enumerate(kinds)]
        self.fill(inside, self.draw(st.integers(1, 4)), root=False)
        made = [origin for origin in inside.available if origin.node != SUBGRAPH_INPUT]
        chosen = self.draw(st.lists(st.sampled_from(made), max_size=3, unique=True)) if made else []
        outputs = [
            {
                "name": f"out{n}",
                "type": origin.type,
                "linkIds": [self.wire(inside, origin, SUBGRAPH_OUTPUT, n)],
            }
            for n, origin in enumerate(chosen)
        ]
        subgraph_id = f"subgraph-{index}"
        self.executed_inside[subgraph_id] = inside.executed
        self.subgraphs.append(
            {
                "id": subgraph_id,
                "name": f"Subgraph {index}",
                "inputs": inside.inputs,
                "outputs": outputs,
                "nodes": list(inside.nodes.values()),
                "links": inside.links,
            }
        )


@st.composite
def ui_workflows(draw: Draw, object_info: Mapping[str, Any]) -> UISample:
    builder = _Builder(draw, object_info)
    for index in range(draw(st.integers(0, 3))):
        builder.define_subgraph(index)
    root = _Graph(dict_links=draw(st.integers(0, 5)) == 0)
    builder.fill(root, draw(st.integers(1, 10)), root=True)
    for kind in finishing_kinds(draw, root.available):
        builder.plain(root, kind=kind)
    body: dict[str, Any] = {
        "last_node_id": next(builder.node_ids) - 1,
        "nodes": list(root.nodes.values()),
        "links": root.links,
        "version": 0.4,
        "extra": {},
    }
    if builder.subgraphs:
        body["definitions"] = {"subgraphs": builder.subgraphs}
    return UISample(body, root.executed)
