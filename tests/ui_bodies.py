"""UI-format workflow bodies that once broke the upload (issue 18): each malformed shape,
subgraphs inside themselves or nested 2,000 deep, and subgraph expansion bombs. Shared by
the converter's tests and the upload route's."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

UI_TXT2IMG = Path(__file__).parent / "fixtures" / "ui_txt2img_sd15.json"

Body = dict[str, Any]


def txt2img() -> Body:
    """A valid UI-format SD 1.5 workflow (root links as arrays) the double runs."""
    data: Body = json.loads(UI_TXT2IMG.read_text("utf-8"))
    return data


def _node(node_id: int, kind: str, **fields: Any) -> Body:
    return {"id": node_id, "type": kind, "mode": 0, "inputs": [], "outputs": [], **fields}


def _subgraph(sub_id: str, nodes: list[Body], **fields: Any) -> Body:
    return {"id": sub_id, "name": sub_id, "nodes": nodes, "links": [], **fields}


def with_subgraphs(*subgraphs: Body, root_types: tuple[str, ...] = ()) -> Body:
    """txt2img with these subgraph definitions, and a node of each of ``root_types``."""
    body = txt2img()
    body["nodes"] += [_node(100 + n, kind) for n, kind in enumerate(root_types)]
    body["definitions"] = {"subgraphs": list(subgraphs)}
    return body


def self_containing() -> Body:
    return with_subgraphs(_subgraph("loop", [_node(1, "loop")]), root_types=("loop",))


def mutually_containing() -> Body:
    return with_subgraphs(
        _subgraph("ping", [_node(1, "pong")]),
        _subgraph("pong", [_node(1, "ping")]),
        root_types=("ping",),
    )


def nested_subgraphs(depth: int) -> Body:
    """Subgraph 0 holds subgraph 1, which holds 2, … down to an EmptyImage."""
    inner = [
        _subgraph(f"level{n}", [_node(1, f"level{n + 1}" if n + 1 < depth else "EmptyImage")])
        for n in range(depth)
    ]
    return with_subgraphs(*inner, root_types=("level0",))


def deeply_nested_json(depth: int) -> Body:
    body = txt2img()
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    body["nodes"][0]["widgets_values"] = value
    return body


def expansion_bomb(levels: int, fan_out: int = 10) -> Body:
    """``fan_out`` uses of a subgraph holding ``fan_out`` uses of the next, ``levels``
    deep in all: ``fan_out ** levels`` EmptyImage nodes from a body of a few KB."""
    leaf = ["EmptyImage"]
    kinds = [f"bomb{n}" for n in range(1, levels)] + leaf
    subgraphs = [
        _subgraph(
            kinds[n],
            [_node(i + 1, kinds[n + 1], widgets_values=[8, 8, 1, 0]) for i in range(fan_out)],
        )
        for n in range(levels - 1)
    ]
    body = with_subgraphs(*subgraphs)
    body["nodes"] += [_node(100 + i, kinds[0], widgets_values=[8, 8, 1, 0]) for i in range(fan_out)]
    return body


def _changed(change: Callable[[Body], None]) -> Callable[[], Body]:
    def build() -> Body:
        body = copy.deepcopy(txt2img())
        change(body)
        return body

    return build


def _sampler(body: Body) -> Body:
    sampler: Body = next(node for node in body["nodes"] if node["type"] == "KSampler")
    return sampler


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _one_subgraph(**fields: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body["nodes"].append(_node(100, "wrapped"))
        subgraph = _subgraph("wrapped", [_node(1, "EmptyImage")], **fields)
        body["definitions"] = {"subgraphs": [subgraph]}

    return change


def _sampler_input(field: str, value: Any) -> Callable[[Body], None]:
    return lambda body: _sampler(body)["inputs"][0].__setitem__(field, value)


def _primitive_with_links(links: list[Any]) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        outputs = [{"name": "INT", "type": "INT", "links": links}]
        body["nodes"].append(_node(30, "PrimitiveNode", outputs=outputs, widgets_values=[5]))

    return change


def _output_slot(value: Any) -> Callable[[Body], None]:
    return lambda body: _sampler(body).__setitem__("outputs", [value])


MALFORMED: dict[str, Callable[[], Body]] = {
    "last_node_id-text": _changed(_set(("last_node_id",), "abc")),
    "last_node_id-list": _changed(_set(("last_node_id",), [1])),
    "last_node_id-nan": _changed(_set(("last_node_id",), float("nan"))),
    "definitions-list": _changed(_set(("definitions",), [1, 2])),
    "subgraphs-dict": _changed(_set(("definitions",), {"subgraphs": {"a": {"nodes": []}}})),
    "subgraphs-text": _changed(_set(("definitions",), {"subgraphs": "subgraphs"})),
    "subgraph-without-id": _changed(
        _set(("definitions",), {"subgraphs": [{"nodes": [], "links": []}]})
    ),
    "linkIds-int": _changed(_one_subgraph(inputs=[{"name": "x", "type": "INT", "linkIds": 5}])),
    "input-link-list": _changed(_sampler_input("link", [1, 2])),
    "input-link-dict": _changed(_sampler_input("link", {"id": 1})),
    "output-slot-text": _changed(_output_slot("LATENT")),
    "primitive-links-dicts": _changed(_primitive_with_links([{"id": 1}])),
}
"""Each shape issue 18 listed, in an otherwise valid workflow."""
