"""UI-format (editor) workflows become the API prompt ComfyUI's own frontend would queue."""

import json
from pathlib import Path
from typing import Any

import pytest
from comfyui_real import RealComfyUI

from comfyui_pipe.workflow.ui_format import UIConversionError, is_ui_workflow, ui_to_api

FIXTURES = Path(__file__).parent.parent / "fixtures"
SAMPLE = FIXTURES / "ui_templates"
V0_33_OBJECT_INFO = FIXTURES / "traces" / "v0_33" / "object_info.json"
TEMPLATES = sorted(
    path.name.removesuffix(".json")
    for path in SAMPLE.glob("*.json")
    if not path.name.endswith(".api.json")
)


SCHEMAS = [
    "recorded v0.33",
    # a live server's: its installed models, no API nodes (--disable-api-nodes)
    pytest.param("real server", marks=pytest.mark.real_comfyui),
]


@pytest.fixture(scope="module", params=SCHEMAS)
def server_schemas(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A ComfyUI 0.33's ``/object_info``: the recorded one, or a live server's."""
    if request.param == "real server":
        real_comfyui: RealComfyUI = request.getfixturevalue("real_comfyui")
        info: dict[str, Any] = real_comfyui.get("/object_info")
        return info
    return json.loads(V0_33_OBJECT_INFO.read_text("utf-8"))


def _load(name: str) -> Any:
    return json.loads((SAMPLE / name).read_text("utf-8"))


def _without_titles(prompt: dict[str, Any]) -> dict[str, Any]:
    return {
        node_id: {"class_type": node["class_type"], "inputs": node["inputs"]}
        for node_id, node in prompt.items()
    }


@pytest.mark.parametrize("template", TEMPLATES)
def test_official_template_converts_as_the_comfyui_frontend_does(
    template: str, server_schemas: dict[str, Any]
) -> None:
    # expected: what the frontend's own graphToPrompt() returned for this template
    # (bench/ui_conversion_vs_frontend.py --write-fixtures)
    ours = ui_to_api(_load(f"{template}.json"), server_schemas)
    assert _without_titles(ours) == _load(f"{template}.api.json")


def test_the_sample_covers_subgraphs_primitives_reroutes_and_bypassed_nodes() -> None:
    assert len(TEMPLATES) >= 30
    seen: set[str] = set()
    for template in TEMPLATES:
        data = _load(f"{template}.json")
        subgraphs = (data.get("definitions") or {}).get("subgraphs") or []
        nodes = [*data["nodes"], *(node for graph in subgraphs for node in graph["nodes"])]
        seen |= {node["type"] for node in nodes} | {f"mode {node.get('mode')}" for node in nodes}
        seen |= {"subgraph"} if subgraphs else set()
    assert {"subgraph", "PrimitiveNode", "Reroute", "mode 4", "mode 2"} <= seen


# --- small graphs, one behaviour each -------------------------------------------------


def _node(node_id: int, kind: str, values: Any = None, mode: int = 0, **slots: Any) -> dict:
    return {
        "id": node_id,
        "type": kind,
        "mode": mode,
        "inputs": slots.get("inputs", []),
        "outputs": slots.get("outputs", []),
        "widgets_values": values if values is not None else [],
    }


def _slot(name: str, kind: str, link: int | None = None, widget: bool = False) -> dict:
    slot: dict[str, Any] = {"name": name, "type": kind, "link": link}
    if widget:
        slot["widget"] = {"name": name}
    return slot


def _txt2img(*extra_nodes: dict, links: list | None = None, **overrides: dict) -> dict:
    """Checkpoint → CLIPTextEncode ×2 → KSampler ← EmptyLatentImage → VAEDecode → SaveImage."""
    nodes = {
        4: _node(4, "CheckpointLoaderSimple", ["model.safetensors"]),
        5: _node(5, "EmptyLatentImage", [512, 512, 1]),
        6: _node(6, "CLIPTextEncode", ["a cat"], inputs=[_slot("clip", "CLIP", 3)]),
        7: _node(7, "CLIPTextEncode", ["blurry"], inputs=[_slot("clip", "CLIP", 4)]),
        3: _node(
            3,
            "KSampler",
            [42, "randomize", 20, 7.5, "euler", "normal", 1],
            inputs=[
                _slot("model", "MODEL", 1),
                _slot("positive", "CONDITIONING", 5),
                _slot("negative", "CONDITIONING", 6),
                _slot("latent_image", "LATENT", 2),
            ],
        ),
        8: _node(8, "VAEDecode", inputs=[_slot("samples", "LATENT", 7), _slot("vae", "VAE", 8)]),
        9: _node(9, "SaveImage", ["cats"], inputs=[_slot("images", "IMAGE", 9)]),
    }
    nodes.update({int(key): node for key, node in overrides.items()})
    return {
        "nodes": [*nodes.values(), *extra_nodes],
        "links": [
            [1, 4, 0, 3, 0, "MODEL"],
            [2, 5, 0, 3, 3, "LATENT"],
            [3, 4, 1, 6, 0, "CLIP"],
            [4, 4, 1, 7, 0, "CLIP"],
            [5, 6, 0, 3, 1, "CONDITIONING"],
            [6, 7, 0, 3, 2, "CONDITIONING"],
            [7, 3, 0, 8, 0, "LATENT"],
            [8, 4, 2, 8, 1, "VAE"],
            [9, 8, 0, 9, 0, "IMAGE"],
            *(links or []),
        ],
    }


def test_widget_values_follow_the_input_order_and_skip_control_after_generate(
    object_info: dict[str, Any],
) -> None:
    prompt = ui_to_api(_txt2img(_node(20, "Note", ["just a note"])), object_info)
    assert prompt["3"]["inputs"] == {
        "seed": 42,
        "steps": 20,
        "cfg": 7.5,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 1,
        "model": ["4", 0],
        "positive": ["6", 0],
        "negative": ["7", 0],
        "latent_image": ["5", 0],
    }
    assert set(prompt) == {"3", "4", "5", "6", "7", "8", "9"}  # the note is not sent


def test_a_primitive_node_sets_the_widget_it_feeds(object_info: dict[str, Any]) -> None:
    primitive = _node(20, "PrimitiveNode", [1234, "fixed"], outputs=[{"links": [20]}])
    sampler = _txt2img()["nodes"][4]
    sampler["inputs"].append(_slot("seed", "INT", 20, widget=True))
    workflow = _txt2img(primitive, links=[[20, 20, 0, 3, 4, "INT"]], **{"3": sampler})
    assert ui_to_api(workflow, object_info)["3"]["inputs"]["seed"] == 1234


def test_a_reroute_and_a_bypassed_node_are_passed_through(object_info: dict[str, Any]) -> None:
    reroute = _node(20, "Reroute", inputs=[_slot("", "*", 10)])
    bypassed_lora = _node(
        21,
        "LoraLoaderModelOnly",
        ["style.safetensors", 1.0],
        mode=4,
        inputs=[_slot("model", "MODEL", 11)],
        outputs=[{"type": "MODEL"}],
    )
    sampler = _txt2img()["nodes"][4]
    sampler["inputs"][0] = _slot("model", "MODEL", 12)
    workflow = _txt2img(
        reroute,
        bypassed_lora,
        links=[[10, 4, 0, 20, 0, "MODEL"], [11, 20, 0, 21, 0, "MODEL"], [12, 21, 0, 3, 0, "MODEL"]],
        **{"3": sampler},
    )
    prompt = ui_to_api(workflow, object_info)
    assert prompt["3"]["inputs"]["model"] == ["4", 0]
    assert "21" not in prompt and "20" not in prompt


def test_a_muted_node_is_left_out_with_the_links_to_it(object_info: dict[str, Any]) -> None:
    muted_decode = _txt2img()["nodes"][5]
    muted_decode["mode"] = 2
    prompt = ui_to_api(_txt2img(**{"8": muted_decode}), object_info)
    assert "8" not in prompt
    assert prompt["9"]["inputs"] == {"filename_prefix": "cats"}


def test_dict_links_and_subgraphs_are_flattened_with_the_frontend_ids(
    object_info: dict[str, Any],
) -> None:
    inner_decode = _node(
        2, "VAEDecode", inputs=[_slot("samples", "LATENT", 31), _slot("vae", "VAE", 32)]
    )
    subgraph = {
        "id": "decode-subgraph",
        "inputs": [
            {"name": "samples", "type": "LATENT", "linkIds": [31]},
            {"name": "vae", "type": "VAE", "linkIds": [32]},
        ],
        "outputs": [{"name": "IMAGE", "type": "IMAGE", "linkIds": [33]}],
        "nodes": [inner_decode],
        "links": [
            {"id": 31, "origin_id": -10, "origin_slot": 0, "target_id": 2, "target_slot": 0},
            {"id": 32, "origin_id": -10, "origin_slot": 1, "target_id": 2, "target_slot": 1},
            {"id": 33, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 0},
        ],
    }
    host = _node(
        8,
        "decode-subgraph",
        inputs=[_slot("samples", "LATENT", 7), _slot("vae", "VAE", 8)],
        outputs=[{"type": "IMAGE"}],
    )
    workflow = _txt2img(**{"8": host})
    workflow["definitions"] = {"subgraphs": [subgraph]}
    prompt = ui_to_api(workflow, object_info)
    assert prompt["8:2"]["inputs"] == {"samples": ["3", 0], "vae": ["4", 2]}
    assert prompt["9"]["inputs"]["images"] == ["8:2", 0]


def test_a_node_type_the_server_lacks_is_named(object_info: dict[str, Any]) -> None:
    workflow = _txt2img(_node(20, "FancyUpscaler", [2]))
    with pytest.raises(UIConversionError, match="does not have: FancyUpscaler"):
        ui_to_api(workflow, object_info)


def test_ui_format_is_told_apart_from_api_format() -> None:
    assert is_ui_workflow(_txt2img())
    assert not is_ui_workflow({"3": {"class_type": "KSampler", "inputs": {}}})
