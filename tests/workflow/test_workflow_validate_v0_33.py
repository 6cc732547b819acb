"""Current node schemas (ComfyUI v0.33): dynamic, any-typed, match-typed and lazy inputs are
accepted by the local validator and by the double alike; real mistakes are still refused,
with the same sentences."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from comfyui_double import ComfyDouble
from sentences import validation_sentences

from comfyui_pipe.workflow import find_problems

OBJECT_INFO = Path(__file__).parent.parent / "fixtures" / "traces" / "v0_33" / "object_info.json"


@pytest.fixture(scope="module")
def object_info() -> dict[str, Any]:
    return json.loads(OBJECT_INFO.read_text("utf-8"))


def _image(node_id: str = "1", size: int = 64) -> dict[str, Any]:
    inputs = {"width": size, "height": size, "batch_size": 1, "color": 0}
    return {node_id: {"class_type": "EmptyImage", "inputs": inputs}}


def _save(source: list[Any], node_id: str = "9") -> dict[str, Any]:
    inputs = {"images": source, "filename_prefix": "v033"}
    return {node_id: {"class_type": "SaveImage", "inputs": inputs}}


def math_expression() -> dict[str, Any]:
    """Autogrow with named copies (values.a, values.b), a union type, into an any-typed input."""
    return {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
        "2": {"class_type": "PrimitiveFloat", "inputs": {"value": 0.5}},
        "3": {
            "class_type": "ComfyMathExpression",
            "inputs": {"expression": "a * b", "values.a": ["1", 0], "values.b": ["2", 0]},
        },
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
    }


def switch() -> dict[str, Any]:
    """Lazy match-typed inputs; the match-typed output feeds an IMAGE input."""
    return {
        **_image("1"),
        **_image("2", 32),
        "3": {"class_type": "PrimitiveBoolean", "inputs": {"value": True}},
        "4": {
            "class_type": "ComfySwitchNode",
            "inputs": {"switch": ["3", 0], "on_false": ["1", 0], "on_true": ["2", 0]},
        },
        **_save(["4", 0]),
    }


def batch() -> dict[str, Any]:
    """Autogrow with numbered copies (images.image0, images.image1)."""
    return {
        **_image("1"),
        **_image("2"),
        "3": {
            "class_type": "BatchImagesNode",
            "inputs": {"images.image0": ["1", 0], "images.image1": ["2", 0]},
        },
        **_save(["3", 0]),
    }


def resize() -> dict[str, Any]:
    """A dynamic combo: the chosen option's inputs arrive as resize_type.<name>."""
    return {
        **_image("1"),
        "2": {
            "class_type": "ResizeImageMaskNode",
            "inputs": {
                "input": ["1", 0],
                "resize_type": "scale dimensions",
                "resize_type.width": 32,
                "resize_type.height": 48,
                "resize_type.crop": "center",
                "scale_method": "area",
            },
        },
        **_save(["2", 0]),
    }


def wrapped_value() -> dict[str, Any]:
    """A widget value in the {"__value__": ...} wrapper the editor uses for list values."""
    graph = {**_image("1"), **_save(["1", 0])}
    graph["1"]["inputs"]["width"] = {"__value__": 64}
    return graph


ACCEPTED = {
    "math_expression": math_expression,
    "switch": switch,
    "batch": batch,
    "resize": resize,
    "wrapped_value": wrapped_value,
}


def _broken(build: Any, change: Any) -> Any:
    def graph() -> dict[str, Any]:
        built = build()
        change(built)
        return built

    return graph


REFUSED = {
    "autogrow copy below its minimum missing": (
        _broken(batch, lambda g: g["3"]["inputs"].pop("images.image0")),
        "BatchImagesNode (node 3) is missing its required input 'images.image0'",
    ),
    "named autogrow copy missing": (
        _broken(math_expression, lambda g: g["3"]["inputs"].pop("values.a")),
        "ComfyMathExpression (node 3) is missing its required input 'values.a'",
    ),
    "union type not matched": (
        _broken(
            math_expression,
            lambda g: g.update(_image("5")) or g["3"]["inputs"].update({"values.a": ["5", 0]}),
        ),
        "input 'values.a' of ComfyMathExpression (node 3) is connected to the wrong kind of output",
    ),
    "chosen option's input out of range": (
        _broken(resize, lambda g: g["2"]["inputs"].update({"resize_type.width": 99999})),
        "resize_type.width 99999 is above the maximum 16384",
    ),
    "chosen option's input missing": (
        _broken(resize, lambda g: g["2"]["inputs"].pop("resize_type.crop")),
        "ResizeImageMaskNode (node 2) is missing its required input 'resize_type.crop'",
    ),
    "wrapped value out of range": (
        _broken(wrapped_value, lambda g: g["1"]["inputs"].update({"width": {"__value__": 99999}})),
        "width 99999 is above the maximum 16384",
    ),
    "a bare list is a bad link": (
        _broken(wrapped_value, lambda g: g["1"]["inputs"].update({"width": [1, 2, 3]})),
        "input 'width' of EmptyImage (node 1) is connected to the wrong kind of output",
    ),
    "wrong type into a plain input": (
        _broken(switch, lambda g: g["9"]["inputs"].update({"images": ["3", 0]})),
        "input 'images' of SaveImage (node 9) is connected to the wrong kind of output",
    ),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_current_schemas_are_understood(name: str, object_info: dict[str, Any]) -> None:
    assert validation_sentences(ACCEPTED[name](), object_info) == []


@pytest.mark.parametrize("name", list(REFUSED))
def test_real_mistakes_are_still_refused(name: str, object_info: dict[str, Any]) -> None:
    build, sentence = REFUSED[name]
    assert sentence in validation_sentences(build(), object_info)


async def _post(double: ComfyDouble, graph: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{double.url}/prompt", json={"prompt": graph}) as response:
            return response.status, await response.json()


async def test_the_double_agrees(object_info: dict[str, Any]) -> None:
    """The v0.33 double takes what the validator takes and refuses the same inputs."""
    async with ComfyDouble(version="0.33") as double:
        double.faults.silent = True
        for name, build in ACCEPTED.items():
            status, body = await _post(double, build())
            assert status == 200, (name, body)
        for name, (build, _) in REFUSED.items():
            graph = build()
            ours = {
                (node_id, error["extra_info"].get("input_name"))
                for node_id, entry in find_problems(graph, object_info).node_errors.items()
                for error in entry["errors"]
            }
            status, body = await _post(double, copy.deepcopy(graph))
            assert status == 400, name
            theirs = {
                (node_id, error["extra_info"].get("input_name"))
                for node_id, entry in body["node_errors"].items()
                for error in entry["errors"]
            }
            assert theirs == ours, name
