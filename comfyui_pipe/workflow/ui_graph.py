"""A UI-format (litegraph) workflow read into plain records: nodes, links, subgraphs.

The editor saves links two ways: the root graph as arrays
``[id, origin_id, origin_slot, target_id, target_slot, type]``, subgraph definitions as
dicts with those names. Inside a subgraph, origin ``-10`` is the subgraph's input side and
target ``-20`` its output side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

SUBGRAPH_INPUT_ID = -10
SUBGRAPH_OUTPUT_ID = -20


class UIConversionError(ValueError):
    """A UI-format workflow that cannot be turned into an API prompt; str() says why."""


@dataclass(frozen=True)
class Link:
    origin_id: int
    origin_slot: int
    target_id: int
    target_slot: int
    type: str


@dataclass(frozen=True)
class Slot:
    name: str
    type: str
    link: int | None = None
    widget: str | None = None
    """The widget this input slot stands for, when it is a converted widget."""


@dataclass
class Node:
    id: int
    type: str
    mode: int
    title: str
    inputs: list[Slot]
    outputs: list[Slot]
    widgets_values: Any
    properties: Mapping[str, Any]
    output_links: list[list[int]] = field(default_factory=list)


@dataclass
class Graph:
    """The root graph or one subgraph definition."""

    nodes: dict[int, Node]
    links: dict[int, Link]
    inputs: list[Slot] = field(default_factory=list)
    """A subgraph's own inputs (the slots of the node that uses it)."""
    input_links: list[list[int]] = field(default_factory=list)
    """Per subgraph input, the links it feeds inside."""
    output_links: list[list[int]] = field(default_factory=list)
    """Per subgraph output, the links that reach it from inside."""


@dataclass
class Workflow:
    root: Graph
    subgraphs: dict[str, Graph]


def read_workflow(data: Mapping[str, Any]) -> Workflow:
    definitions = (data.get("definitions") or {}).get("subgraphs") or []
    workflow = Workflow(
        root=_graph(data, "the workflow"),
        subgraphs={
            str(item["id"]): _graph(item, f"subgraph '{item.get('name', item['id'])}'")
            for item in definitions
        },
    )
    _renumber_repeated_node_ids(workflow, _last_node_id(data))
    for graph in (workflow.root, *workflow.subgraphs.values()):
        for node in graph.nodes.values():
            inside = workflow.subgraphs.get(node.type)
            if inside is not None:
                node.inputs = _subgraph_node_inputs(node, inside)
    return workflow


def _last_node_id(data: Mapping[str, Any]) -> int:
    state = data.get("state")
    saved = state.get("lastNodeId") if isinstance(state, Mapping) else None
    return int(saved or data.get("last_node_id") or 0)


def _renumber_repeated_node_ids(workflow: Workflow, last_node_id: int) -> None:
    """Give subgraph nodes whose id is already taken (by the root graph or an earlier
    subgraph) the next free id, as the editor does when it loads the workflow."""
    used = set(workflow.root.nodes)
    for graph in workflow.subgraphs.values():
        renumbered: dict[int, int] = {}
        for node_id in list(graph.nodes):
            if node_id in used:
                while last_node_id + 1 in used or last_node_id + 1 in graph.nodes:
                    last_node_id += 1
                last_node_id += 1
                renumbered[node_id] = last_node_id
                used.add(last_node_id)
            else:
                used.add(node_id)
                last_node_id = max(last_node_id, node_id)
        if renumbered:
            _apply_node_ids(graph, renumbered)


def _apply_node_ids(graph: Graph, renumbered: Mapping[int, int]) -> None:
    nodes = list(graph.nodes.values())
    for node in nodes:
        node.id = renumbered.get(node.id, node.id)
    graph.nodes = {node.id: node for node in nodes}
    graph.links = {
        link_id: replace(
            link,
            origin_id=renumbered.get(link.origin_id, link.origin_id),
            target_id=renumbered.get(link.target_id, link.target_id),
        )
        for link_id, link in graph.links.items()
    }


def _subgraph_node_inputs(node: Node, inside: Graph) -> list[Slot]:
    """A subgraph node's input slots are its subgraph's inputs, in the subgraph's order;
    the saved node lists only some of them (matched by name)."""
    saved = {slot.name: slot for slot in node.inputs}
    return [
        Slot(
            name=wanted.name,
            type=wanted.type,
            link=saved[wanted.name].link if wanted.name in saved else None,
            widget=saved[wanted.name].widget if wanted.name in saved else None,
        )
        for wanted in inside.inputs
    ]


def _graph(data: Mapping[str, Any], where: str) -> Graph:
    try:
        links = [_link(item) for item in data.get("links") or [] if item]
        nodes = [_node(item) for item in data.get("nodes") or []]
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise UIConversionError(
            f"The nodes or links of {where} are not in ComfyUI's UI format ({error})."
        ) from None
    return Graph(
        nodes={node.id: node for node in nodes},
        links=dict(links),
        inputs=[_slot(item) for item in data.get("inputs") or []],
        input_links=[list(item.get("linkIds") or []) for item in data.get("inputs") or []],
        output_links=[list(item.get("linkIds") or []) for item in data.get("outputs") or []],
    )


def _link(item: Any) -> tuple[int, Link]:
    if isinstance(item, Mapping):
        fields = [
            item[key] for key in ("id", "origin_id", "origin_slot", "target_id", "target_slot")
        ]
        kind = item.get("type", "*")
    else:
        fields, kind = list(item[:5]), item[5] if len(item) > 5 else "*"
    link_id, origin_id, origin_slot, target_id, target_slot = (int(value) for value in fields)
    return link_id, Link(origin_id, origin_slot, target_id, target_slot, str(kind))


def _node(item: Mapping[str, Any]) -> Node:
    return Node(
        id=int(item["id"]),
        type=str(item["type"]),
        mode=int(item.get("mode") or 0),
        title=str(item.get("title") or ""),
        inputs=[_slot(slot) for slot in item.get("inputs") or []],
        outputs=[_slot(slot) for slot in item.get("outputs") or []],
        widgets_values=item.get("widgets_values"),
        properties=item.get("properties") or {},
        output_links=[list(slot.get("links") or []) for slot in item.get("outputs") or []],
    )


def _slot(item: Mapping[str, Any]) -> Slot:
    widget = item.get("widget")
    return Slot(
        name=str(item.get("name", "")),
        type=str(item.get("type", "*")),
        link=item.get("link"),
        widget=str(widget["name"]) if isinstance(widget, Mapping) and "name" in widget else None,
    )
