"""Broken workflows, in both formats: valid ones with wrong types put at any level, whole
numbers changed (links to nothing, slots out of range), links in a loop, subgraphs inside
themselves or nested too deep, lists nested too deep, subgraph bombs and huge counts."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st
from ui_bodies import expansion_bomb, nested_subgraphs

from .api_graphs import api_workflows
from .nodes import TEXT, Draw
from .ui_graphs import ui_workflows

Path = tuple[Any, ...]

# any JSON value: the wrong type anywhere (NaN and infinities included, as JSON may carry)
GARBAGE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63) | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
NUMBERS = st.integers(-25, 40) | st.integers(-(2**70), 2**70)


def places(value: Any) -> list[Path]:
    """The path of every value inside ``value`` (not ``value`` itself)."""
    found: list[Path] = []
    pending: list[tuple[Path, Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        children = (
            item.items()
            if isinstance(item, dict)
            else enumerate(item)
            if isinstance(item, list)
            else ()
        )
        for key, child in children:
            found.append((*path, key))
            pending.append(((*path, key), child))
    return found


def _at(value: Any, path: Path) -> Any:
    for key in path:
        value = value[key]
    return value


def deep(depth: int, inner: Any = "deep") -> Any:
    for _ in range(depth):
        inner = [inner]
    return inner


@st.composite
def mutated(draw: Draw, valid: st.SearchStrategy[Any]) -> Any:
    """A valid workflow with one to three values replaced: by anything, by another whole
    number (where there was one), or by lists nested past the limit; or a key removed."""
    body = copy.deepcopy(draw(valid))
    for _ in range(draw(st.integers(1, 3))):
        spots = places(body)
        if not spots:
            return draw(GARBAGE)
        path = draw(st.sampled_from(spots))
        parent, key = _at(body, path[:-1]), path[-1]
        change = draw(st.sampled_from(("anything", "number", "deep", "remove")))
        if change == "remove" and isinstance(parent, dict):
            del parent[key]
        elif change == "number" and type(parent[key]) is int:
            parent[key] = draw(NUMBERS)
        elif change == "deep":
            parent[key] = deep(draw(st.integers(60, 400)))
        else:
            parent[key] = draw(GARBAGE)
    return body


@st.composite
def looped_subgraphs(draw: Draw, object_info: Mapping[str, Any]) -> dict[str, Any]:
    """Two subgraph definitions (the same one, or two) each used inside the other."""
    body = copy.deepcopy(draw(ui_workflows(object_info)).body)
    subgraphs = (body.get("definitions") or {}).get("subgraphs") or []
    if not subgraphs:
        return body
    first, second = draw(st.sampled_from(subgraphs)), draw(st.sampled_from(subgraphs))
    first["nodes"].append({"id": 9000, "type": second["id"], "mode": 0})
    second["nodes"].append({"id": 9001, "type": first["id"], "mode": 0})
    body["nodes"].append({"id": 9002, "type": first["id"], "mode": 0})
    return body


@st.composite
def looped_reroutes(draw: Draw, object_info: Mapping[str, Any]) -> dict[str, Any]:
    """Two Reroutes feeding each other, and a SaveImage fed by them."""
    body = copy.deepcopy(draw(ui_workflows(object_info)).body)
    reroute = {"type": "Reroute", "mode": 0, "outputs": [{"name": "", "type": "*"}]}
    body["nodes"] += [
        {**reroute, "id": 9000, "inputs": [{"name": "", "type": "*", "link": 9001}]},
        {**reroute, "id": 9001, "inputs": [{"name": "", "type": "*", "link": 9000}]},
        {
            "id": 9002,
            "type": "SaveImage",
            "mode": 0,
            "inputs": [{"name": "images", "type": "IMAGE", "link": 9002}],
            "widgets_values": ["x"],
        },
    ]
    body["links"] = [
        *body["links"],
        [9000, 9000, 0, 9001, 0, "*"],
        [9001, 9001, 0, 9000, 0, "*"],
        [9002, 9000, 0, 9002, 0, "IMAGE"],
    ]
    return body


def many_nodes(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"id": n, "type": "EmptyImage", "mode": 0, **fields} for n in range(1, count + 1)]


def broken_ui_workflows(object_info: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        mutated(ui_workflows(object_info).map(lambda sample: sample.body)),
        looped_subgraphs(object_info),
        looped_reroutes(object_info),
        st.integers(17, 200).map(nested_subgraphs),
        st.tuples(st.integers(4, 7), st.integers(6, 12)).map(lambda shape: expansion_bomb(*shape)),
        st.integers(5_001, 5_100).map(lambda count: {"nodes": many_nodes(count), "links": []}),
        st.dictionaries(TEXT, GARBAGE).map(lambda extra: {"nodes": [], "links": [], **extra}),
    )


@st.composite
def api_cycle(draw: Draw, object_info: Mapping[str, Any]) -> dict[str, Any]:
    """A valid workflow whose first node is also fed by its last one."""
    graph = copy.deepcopy(draw(api_workflows(object_info)))
    first, last = min(graph, key=int), max(graph, key=int)
    graph[first]["inputs"]["looped"] = [last, 0]
    return graph


def broken_api_workflows(object_info: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    too_many = st.integers(5_001, 5_100).map(
        lambda count: {str(n): {"class_type": "EmptyImage", "inputs": {}} for n in range(count)}
    )
    return st.one_of(
        mutated(api_workflows(object_info)),
        api_cycle(object_info),
        too_many,
        GARBAGE,
    )
