"""A UI-format (litegraph) workflow read into plain records: nodes, links, subgraphs.

Inside a subgraph, origin ``-10`` is the subgraph's input side and target ``-20`` its
output side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from comfyui_pipe.workflow.ui_shape import (
    GraphShape,
    LinkShape,
    NodeShape,
    SubgraphShape,
    UIConversionError,
    WorkflowShape,
)

__all__ = [
    "BYPASSED",
    "FRONTEND_ONLY_TYPES",
    "MUTED",
    "SUBGRAPH_INPUT_ID",
    "Graph",
    "Node",
    "UIConversionError",
    "Workflow",
    "read_workflow",
]

SUBGRAPH_INPUT_ID = -10
SUBGRAPH_OUTPUT_ID = -20
MUTED = 2
BYPASSED = 4
FRONTEND_ONLY_TYPES = frozenset({"PrimitiveNode", "Reroute", "Note", "MarkdownNote"})
"""Nodes that exist only in the editor: never sent to the server."""


@dataclass(frozen=True)
class Link:
    origin_id: int
    origin_slot: int
    target_id: int
    target_slot: int


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


def read_workflow(shape: WorkflowShape) -> Workflow:
    """The records of a workflow whose shape is checked (see :mod:`.ui_shape`)."""
    workflow = Workflow(
        root=_graph(shape),
        subgraphs={sub.id: _graph(sub) for sub in shape.subgraphs},
    )
    _renumber_repeated_node_ids(workflow, _last_node_id(shape))
    for graph in (workflow.root, *workflow.subgraphs.values()):
        for node in graph.nodes.values():
            inside = workflow.subgraphs.get(node.type)
            if inside is not None:
                node.inputs = _subgraph_node_inputs(node, inside)
    return workflow


def _last_node_id(shape: WorkflowShape) -> int:
    saved = shape.state.lastNodeId if shape.state else None
    return saved or shape.last_node_id or 0


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


def _graph(shape: GraphShape) -> Graph:
    inputs = shape.inputs or [] if isinstance(shape, SubgraphShape) else []
    outputs = shape.outputs or [] if isinstance(shape, SubgraphShape) else []
    return Graph(
        nodes={node.id: _node(node) for node in shape.nodes or []},
        links={link.id: _link(link) for link in shape.links or []},
        inputs=[Slot(slot.name, slot.type) for slot in inputs],
        input_links=[list(slot.linkIds) for slot in inputs],
        output_links=[list(slot.linkIds) for slot in outputs],
    )


def _link(shape: LinkShape) -> Link:
    return Link(shape.origin_id, shape.origin_slot, shape.target_id, shape.target_slot)


def _node(shape: NodeShape) -> Node:
    outputs = shape.outputs or []
    return Node(
        id=shape.id,
        type=shape.type,
        mode=shape.mode or 0,
        title=shape.title or "",
        inputs=[
            Slot(slot.name, slot.type, slot.link, slot.widget.name if slot.widget else None)
            for slot in shape.inputs or []
        ],
        outputs=[Slot(slot.name, slot.type) for slot in outputs],
        widgets_values=shape.widgets_values,
        output_links=[list(slot.links) for slot in outputs],
    )
