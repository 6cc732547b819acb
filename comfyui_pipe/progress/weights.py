"""How much work each node of an API-format graph stands for.

Samplers are where the time goes, so they share most of the weight in
proportion to their steps; every other node is a small, equal slice.
"""

from __future__ import annotations

from typing import Any

from comfyui_pipe.workflow.graph import SAMPLERS, Graph, class_of, inputs_of, is_link

SAMPLER_SHARE = 0.8
DEFAULT_SAMPLER_STEPS = 20


def sampler_steps(graph: Graph, node_id: str) -> int:
    """The number of steps a sampler node will report, as far as the graph tells."""
    inputs = inputs_of(graph, node_id)
    kind = class_of(graph, node_id)
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
        node_id: sampler_steps(graph, node_id)
        for node_id in graph
        if class_of(graph, node_id) in SAMPLERS
    }


def node_weights(graph: Graph) -> dict[str, float]:
    """Each node's share of the whole job; the shares add up to 1."""
    steps = estimated_steps(graph)
    others = [node_id for node_id in graph if node_id not in steps]
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


def _linked_node(value: Any) -> str | None:
    return str(value[0]) if is_link(value) else None


def _int_input(graph: Graph, value: Any) -> int | None:
    """A literal int, or the ``value`` of a primitive node the input is linked to."""
    source = _linked_node(value)
    if source is not None:
        value = inputs_of(graph, source).get("value")
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
        inputs = inputs_of(graph, source)
        if "steps" in inputs:
            return _int_input(graph, inputs["steps"])
        source = _linked_node(inputs.get("sigmas"))
    return None
