"""How large a UI-format workflow becomes with its subgraphs expanded, known before expanding.

A subgraph definition is written once and used by any number of nodes, which may sit in
other subgraphs: six levels of ten uses each make a million nodes out of a few kilobytes.
The expanded size is counted per definition instead, multiplying by the uses, in one walk
that also finds a subgraph inside itself and nesting beyond ``MAX_SUBGRAPH_DEPTH``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from comfyui_pipe.workflow.limits import (
    MAX_SUBGRAPH_DEPTH,
    WorkflowTooLarge,
    check_counts,
    check_expanded_size,
    json_size,
)
from comfyui_pipe.workflow.ui_shape import (
    GraphShape,
    SubgraphShape,
    UIConversionError,
    WorkflowShape,
)


@dataclass(frozen=True)
class Extent:
    nodes: int
    links: int
    size: int
    """Characters of JSON, roughly (see :func:`.limits.json_size`)."""

    def plus(self, other: Extent, times: int) -> Extent:
        return Extent(
            self.nodes + other.nodes * times,
            self.links + other.links * times,
            self.size + other.size * times,
        )


def check_expansion(data: Mapping[str, Any], shape: WorkflowShape) -> Extent:
    """The workflow's extent with every subgraph expanded, checked against the limits.

    Raises :class:`.limits.WorkflowTooLarge` beyond a limit (JSON nesting included) and
    :class:`UIConversionError` for a subgraph that contains itself.
    """
    total_size = json_size(data)
    definitions = dict(zip((sub.id for sub in shape.subgraphs), _raw_subgraphs(data), strict=True))
    subgraphs = {sub.id: sub for sub in shape.subgraphs}  # a repeated id: the last one counts
    own: dict[str | None, Extent] = {
        sub_id: _own_extent(sub, json_size(definitions[sub_id]))
        for sub_id, sub in subgraphs.items()
    }
    defined_size = sum(extent.size for extent in own.values())
    own[None] = _own_extent(shape, total_size - defined_size)
    uses = {
        graph_id: Counter(node.type for node in (graph.nodes or []) if node.type in subgraphs)
        for graph_id, graph in ((None, shape), *subgraphs.items())
    }
    expanded = _expanded(own, uses, subgraphs)
    check_counts(expanded.nodes, expanded.links)
    check_expanded_size(expanded.size)
    return expanded


def _raw_subgraphs(data: Mapping[str, Any]) -> list[Any]:
    """The subgraph definitions as sent (their shape is already checked)."""
    definitions = data.get("definitions") or {}
    return list(definitions.get("subgraphs") or [])


def _own_extent(graph: GraphShape, size: int) -> Extent:
    return Extent(len(graph.nodes or []), len(graph.links or []), size)


def _expanded(
    own: Mapping[str | None, Extent],
    uses: Mapping[str | None, Counter[str]],
    subgraphs: Mapping[str, SubgraphShape],
) -> Extent:
    """The root graph's extent, each subgraph counted once per use, without recursion."""
    totals: dict[str | None, Extent] = {}
    path: list[tuple[str | None, Iterator[str]]] = [(None, iter(uses[None]))]
    while path:
        graph_id, inside = path[-1]
        sub_id = next(inside, None)
        if sub_id is None:
            path.pop()
            total = own[graph_id]
            for used, times in uses[graph_id].items():
                total = total.plus(totals[used], times)
            totals[graph_id] = total
            continue
        if sub_id in totals:
            continue
        on_path = [graph for graph, _ in path]
        if sub_id in on_path:
            raise UIConversionError(_contains_itself(on_path[on_path.index(sub_id) :], subgraphs))
        if len(path) > MAX_SUBGRAPH_DEPTH:
            raise WorkflowTooLarge(
                f"The workflow nests subgraphs more than {MAX_SUBGRAPH_DEPTH} deep; "
                "ComfyUI's own templates nest them 2 deep at most."
            )
        path.append((sub_id, iter(uses[sub_id])))
    return totals[None]


def _contains_itself(loop: list[str | None], subgraphs: Mapping[str, SubgraphShape]) -> str:
    names = [_name(subgraphs[sub_id]) for sub_id in loop if sub_id is not None]
    through = f" through {', '.join(names[1:])}" if len(names) > 1 else ""
    return f"Subgraph {names[0]} contains itself{through}; a subgraph cannot be inside itself."


def _name(subgraph: SubgraphShape) -> str:
    return f"'{subgraph.name or subgraph.id}'"
