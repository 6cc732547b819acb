"""A UI-format workflow out of shape, inside itself or too large is refused with a sentence,
quickly, before anything is expanded (issue 18, items 1 and 2)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from ui_bodies import (
    MALFORMED,
    deeply_nested_json,
    expansion_bomb,
    mutually_containing,
    nested_subgraphs,
    self_containing,
    txt2img,
)

from comfyui_pipe.workflow.limits import MAX_LINK_WORK, MAX_NODES, WorkflowTooLarge
from comfyui_pipe.workflow.ui_format import UIConversionError, ui_to_api

V0_33_OBJECT_INFO = (
    Path(__file__).parent.parent / "fixtures" / "traces" / "v0_33" / "object_info.json"
)


@pytest.fixture(scope="module")
def object_info() -> dict[str, Any]:
    return json.loads(V0_33_OBJECT_INFO.read_text("utf-8"))


def refusal(body: Any, object_info: dict[str, Any]) -> tuple[ValueError, float]:
    """The refusal ``body`` gets, and how long it took."""
    started = time.perf_counter()
    with pytest.raises((UIConversionError, WorkflowTooLarge)) as refused:
        ui_to_api(body, object_info)
    return refused.value, time.perf_counter() - started


def assert_sentence(error: ValueError, *words: str) -> None:
    text = str(error)
    assert text[0].isupper() and text.endswith("."), text
    for word in words:
        assert word in text, text


# the part of the workflow each refusal names
WHERE = {
    "last_node_id-text": "last_node_id",
    "last_node_id-list": "last_node_id",
    "last_node_id-nan": "last_node_id",
    "definitions-list": "definitions",
    "subgraphs-dict": "definitions.subgraphs",
    "subgraphs-text": "definitions.subgraphs",
    "subgraph-without-id": "definitions.subgraphs.0.id",
    "linkIds-int": "linkIds",
    "input-link-list": "inputs.0.link",
    "input-link-dict": "inputs.0.link",
    "output-slot-text": "outputs.0",
    "primitive-links-dicts": "outputs.0.links.0",
}


def test_every_malformed_shape_has_its_expected_place() -> None:
    assert set(WHERE) == set(MALFORMED)


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_a_malformed_shape_is_refused_naming_where(shape: str, object_info: dict) -> None:
    error, _ = refusal(MALFORMED[shape](), object_info)

    assert isinstance(error, UIConversionError)
    assert_sentence(error, "not in ComfyUI's UI format", WHERE[shape])


def test_a_subgraph_inside_itself_is_refused(object_info: dict) -> None:
    error, _ = refusal(self_containing(), object_info)

    assert_sentence(error, "Subgraph 'loop' contains itself")


def test_subgraphs_inside_each_other_are_refused(object_info: dict) -> None:
    error, _ = refusal(mutually_containing(), object_info)

    assert_sentence(error, "Subgraph 'ping' contains itself through 'pong'")


def test_subgraphs_nested_2000_deep_are_refused(object_info: dict) -> None:
    error, seconds = refusal(nested_subgraphs(2000), object_info)

    assert isinstance(error, WorkflowTooLarge)
    assert_sentence(error, "nests subgraphs more than 16 deep")
    assert seconds < 1


def test_lists_nested_2000_deep_are_refused(object_info: dict) -> None:
    error, _ = refusal(deeply_nested_json(2000), object_info)

    assert isinstance(error, WorkflowTooLarge)
    assert_sentence(error, "more than 64 levels deep")


def test_subgraphs_nested_a_few_deep_still_convert(object_info: dict) -> None:
    prompt = ui_to_api(nested_subgraphs(3), object_info)

    # the path of subgraph nodes, then the EmptyImage (repeated inner ids renumbered)
    [innermost] = [node_id for node_id in prompt if node_id.startswith("100:")]
    assert innermost.count(":") == 3
    assert prompt[innermost]["class_type"] == "EmptyImage"


@pytest.mark.parametrize(("levels", "nodes"), [(5, "111,1"), (6, "1,111,1")])
def test_an_expansion_bomb_is_refused_at_once_by_its_expanded_size(
    levels: int, nodes: str, object_info: dict
) -> None:
    body = expansion_bomb(levels)
    assert len(json.dumps(body)) < 10_000  # 10**5 and 10**6 nodes from a few KB

    error, seconds = refusal(body, object_info)

    assert isinstance(error, WorkflowTooLarge)
    assert_sentence(error, f"has {nodes}", f"most a workflow may have is {MAX_NODES:,}")
    assert seconds < 1


def test_a_workflow_just_under_the_node_limit_converts(object_info: dict) -> None:
    # 10 * 10 * 10 EmptyImage nodes and their 111 subgraph nodes
    prompt = ui_to_api(expansion_bomb(3), object_info)

    assert len(prompt) == 1000 + 7  # the bomb's leaves and txt2img's executed nodes


def test_a_chain_of_3000_reroutes_is_followed_without_recursion(object_info: dict) -> None:
    body = txt2img()
    reroutes = [
        {"id": 200 + n, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*"}]}
        for n in range(3000)
    ]
    links = [[9, 8, 0, 200, 0, "IMAGE"]]  # VAEDecode → first Reroute → … → SaveImage
    for n, reroute in enumerate(reroutes):
        reroute["inputs"][0]["link"] = 9 if n == 0 else 1000 + n
        links.append([1001 + n, 200 + n, 0, 201 + n if n < 2999 else 9, 0, "IMAGE"])
    body["links"] = [link for link in body["links"] if link[0] != 9] + links
    save = next(node for node in body["nodes"] if node["type"] == "SaveImage")
    save["inputs"][0]["link"] = 1000 + 3000
    body["nodes"] += reroutes

    prompt = ui_to_api(body, object_info)

    assert prompt["9"]["inputs"]["images"] == ["8", 0]


def test_a_bypassed_node_with_many_inputs_cannot_hold_the_conversion_up(
    object_info: dict,
) -> None:
    # 10,000 links, each to an input of its own type, all to the output of a bypassed
    # node with 500 inputs of which none fits: each link looks at all 500 inputs
    bypassed = {
        "id": 1,
        "type": "ImageInvert",
        "mode": 4,
        "inputs": [{"name": f"in{n}", "type": "X" if n % 2 else "Y"} for n in range(500)],
        "outputs": [{"name": "IMAGE", "type": "X"}],
    }
    consumers = [
        {
            "id": 2 + c,
            "type": "PreviewImage",
            "mode": 0,
            "inputs": [
                {"name": f"in{i}", "type": f"Y,K{c}.{i}", "link": 100 * c + i} for i in range(100)
            ],
        }
        for c in range(100)
    ]
    links = [[100 * c + i, 1, 0, 2 + c, i, "X"] for c in range(100) for i in range(100)]
    body = {"nodes": [bypassed, *consumers], "links": links}

    error, seconds = refusal(body, object_info)

    assert_sentence(error, f"more than {MAX_LINK_WORK:,} steps")
    assert seconds < 2
