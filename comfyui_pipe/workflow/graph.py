"""Helpers for API-format graphs: ``{node_id: {"class_type", "inputs", "_meta"}}``.

An input value that is a two-item list ``[node_id, output_index]`` is a link to
another node's output; anything else is a literal widget value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

Graph = dict[str, dict[str, Any]]
Link = list[Any]

SAMPLERS = frozenset({"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"})


class Target(NamedTuple):
    """One input of one node that a parameter is written to."""

    node: str
    input: str


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def class_of(graph: Graph, node_id: str) -> str:
    return str(graph.get(node_id, {}).get("class_type", ""))


def inputs_of(graph: Graph, node_id: str) -> dict[str, Any]:
    inputs: dict[str, Any] = graph.get(node_id, {}).get("inputs", {})
    return inputs


def title_of(graph: Graph, node_id: str) -> str:
    """The title the user gave the node in the editor, else its class type."""
    title = (graph.get(node_id, {}).get("_meta") or {}).get("title")
    return title if isinstance(title, str) and title.strip() else class_of(graph, node_id)


def linked_node(graph: Graph, node_id: str, input_name: str) -> tuple[str, int] | None:
    """The ``(source_id, output_index)`` an input is linked to, if it is a link."""
    value = inputs_of(graph, node_id).get(input_name)
    if value is not None and is_link(value) and str(value[0]) in graph:
        return str(value[0]), int(value[1])
    return None


def links_of(graph: Graph, node_id: str) -> Iterator[tuple[str, str, int]]:
    """``(input_name, source_id, output_index)`` for every linked input of a node."""
    for name, value in inputs_of(graph, node_id).items():
        if is_link(value):
            yield name, str(value[0]), value[1]


def literal_target(graph: Graph, node_id: str, input_name: str) -> Target | None:
    """Where a widget value really lives.

    Usually the input itself. When the input is linked to a primitive-like node
    (one with exactly one literal input, e.g. ``PrimitiveInt``), the value lives there.
    """
    inputs = inputs_of(graph, node_id)
    if input_name not in inputs:
        return None
    if not is_link(inputs[input_name]):
        return Target(node_id, input_name)
    source = linked_node(graph, node_id, input_name)
    if source is None:
        return None
    source_inputs = inputs_of(graph, source[0])
    literals = [name for name, value in source_inputs.items() if not is_link(value)]
    if len(literals) == 1 and len(source_inputs) == 1:
        return Target(source[0], literals[0])
    return None


def sort_ids(node_ids: Iterable[str]) -> list[str]:
    """Node ids in natural order ("2" before "10")."""
    return sorted(node_ids, key=lambda i: (0, int(i), "") if i.isdigit() else (1, 0, i))


def fresh_ids(graph: Graph, count: int) -> list[str]:
    """``count`` unused numeric node ids, all above the highest numeric id in use."""
    numeric = [int(i) for i in graph if i.isdigit()]
    start = max(numeric, default=0) + 1
    return [str(start + n) for n in range(count)]


def upstream(graph: Graph, node_id: str) -> set[str]:
    """Every node that ``node_id`` depends on (not including itself)."""
    seen: set[str] = set()
    pending = [node_id]
    while pending:
        for _, source, _ in links_of(graph, pending.pop()):
            if source in graph and source not in seen:
                seen.add(source)
                pending.append(source)
    return seen


def replace_links(graph: Graph, old: tuple[str, int], new: Link, skip: set[str]) -> None:
    """Point every input linked to ``old`` at ``new`` instead (nodes in ``skip`` excepted)."""
    for node_id, node in graph.items():
        if node_id in skip:
            continue
        inputs = node.get("inputs", {})
        for name, value in inputs.items():
            if is_link(value) and (str(value[0]), value[1]) == old:
                inputs[name] = list(new)
