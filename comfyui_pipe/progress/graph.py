"""How much work each node of an API-format graph stands for.

Samplers are where the time goes, so they share most of the weight in
proportion to their steps; every other node is a small, equal slice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SAMPLER_TYPES = frozenset(
    {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
)

SAMPLER_SHARE = 0.8
DEFAULT_SAMPLER_STEPS = 20

Graph = Mapping[str, Any]


def class_type(graph: Graph, node_id: str) -> str:
    node = graph.get(node_id)
    return str(node.get("class_type", "")) if isinstance(node, Mapping) else ""


def is_sampler(graph: Graph, node_id: str) -> bool:
    return class_type(graph, node_id) in SAMPLER_TYPES


def node_title(graph: Graph, node_id: str) -> str:
    """The title the user gave the node in the editor, else its class type."""
    node = graph.get(node_id)
    meta = node.get("_meta") if isinstance(node, Mapping) else None
    title = meta.get("title") if isinstance(meta, Mapping) else None
    return title if isinstance(title, str) and title.strip() else class_type(graph, node_id)


def sampler_steps(graph: Graph, node_id: str) -> int:
    """The number of steps a sampler node will report, as far as the graph tells."""
    inputs = _inputs(graph, node_id)
    kind = class_type(graph, node_id)
    if kind in ("SamplerCustom", "SamplerCustomAdvanced"):
        steps = _scheduler_steps(graph, inputs.get("sigmas"))
    else:
        steps = _int_input(graph, inputs.get("steps"))
    if steps is None:
        return DEFAULT_SAMPLER_STEPS
    if kind == "KSamplerAdvanced":
        start = _int_input(graph, inputs.get("start_at_step")) or 0
        end = _int_input(graph, inputs.get("end_at_step"))
        steps = min(steps, end if end is not None else steps) - start
    return max(steps, 1)


def estimated_steps(graph: Graph) -> dict[str, int]:
    """Every sampler node of the graph with the steps it is expected to run."""
    return {
        node_id: sampler_steps(graph, node_id) for node_id in graph if is_sampler(graph, node_id)
    }


def node_weights(graph: Graph) -> dict[str, float]:
    """Each node's share of the whole job; the shares add up to 1."""
    node_ids = [node_id for node_id, node in graph.items() if isinstance(node, Mapping)]
    steps = estimated_steps(graph)
    others = [node_id for node_id in node_ids if node_id not in steps]
    if not steps:
        sampler_share = 0.0
    elif not others:
        sampler_share = 1.0
    else:
        sampler_share = SAMPLER_SHARE
    total_steps = sum(steps.values())
    weights = {node_id: sampler_share * count / total_steps for node_id, count in steps.items()}
    weights.update({node_id: (1.0 - sampler_share) / len(others) for node_id in others})
    return weights


def _inputs(graph: Graph, node_id: str) -> Mapping[str, Any]:
    node = graph.get(node_id)
    inputs = node.get("inputs") if isinstance(node, Mapping) else None
    return inputs if isinstance(inputs, Mapping) else {}


def _linked_node(value: Any) -> str | None:
    if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[1], int):
        return str(value[0])
    return None


def _int_input(graph: Graph, value: Any) -> int | None:
    """A literal int, or the ``value`` of a primitive node the input is linked to."""
    source = _linked_node(value)
    if source is not None:
        value = _inputs(graph, source).get("value")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _scheduler_steps(graph: Graph, sigmas: Any) -> int | None:
    """Follow a ``sigmas`` link back to the scheduler node that sets ``steps``."""
    seen: set[str] = set()
    source = _linked_node(sigmas)
    while source is not None and source not in seen:
        seen.add(source)
        inputs = _inputs(graph, source)
        if "steps" in inputs:
            return _int_input(graph, inputs["steps"])
        source = _linked_node(inputs.get("sigmas"))
    return None
