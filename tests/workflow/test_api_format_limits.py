"""An API-format workflow is held to the same node and link limits as a converted UI one,
and to the same nesting limit, with a sentence."""

from __future__ import annotations

from typing import Any

import pytest

from comfyui_pipe.workflow import parse_workflow
from comfyui_pipe.workflow.limits import MAX_LINKS, MAX_NODES, WorkflowTooLarge


def _images(count: int) -> dict[str, Any]:
    return {
        str(n): {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}
        for n in range(1, count + 1)
    }


def _chain(links: int) -> dict[str, Any]:
    """One EmptyImage and ``links`` ImageInverts, each linked to the one before."""
    graph = _images(1)
    for n in range(2, links + 2):
        graph[str(n)] = {"class_type": "ImageInvert", "inputs": {"image": [str(n - 1), 0]}}
    return graph


def test_a_workflow_of_the_most_nodes_is_read() -> None:
    assert len(parse_workflow(_images(MAX_NODES), "big").graph) == MAX_NODES


def test_one_node_more_than_the_limit_is_refused() -> None:
    with pytest.raises(WorkflowTooLarge, match=r"5,001 nodes.*most a workflow may have is 5,000"):
        parse_workflow(_images(MAX_NODES + 1), "big")


def test_more_links_than_the_limit_are_refused() -> None:
    # three links per node, so that the node limit is not what refuses it
    graph = _chain(MAX_NODES - 1)
    for node in list(graph.values())[1:]:
        node["inputs"] |= {"mask": ["1", 0], "other": ["1", 0]}

    with pytest.raises(WorkflowTooLarge, match=f"most a workflow may have is {MAX_LINKS:,}"):
        parse_workflow(graph, "tangled")


def test_an_input_nested_2000_deep_is_refused_not_recursed_into() -> None:
    value: Any = 1
    for _ in range(2000):
        value = [value]
    graph = _images(1)
    graph["1"]["inputs"]["width"] = value

    with pytest.raises(WorkflowTooLarge, match="more than 64 levels deep"):
        parse_workflow(graph, "deep")
