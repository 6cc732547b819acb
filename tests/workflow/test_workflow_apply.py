import copy
import random

import pytest
from sentences import validation_sentences

from comfyui_pipe.workflow import (
    MAX_RANDOM_SEED,
    GenerationParams,
    Lora,
    apply_parameters,
    bundled_workflows,
    detect_parameters,
    parse_workflow,
)


@pytest.fixture
def sd15():
    return bundled_workflows()["sd15_txt2img"]


def test_values_land_on_the_right_inputs_and_the_original_is_untouched(sd15):
    before = copy.deepcopy(sd15.graph)
    prepared = apply_parameters(
        sd15,
        GenerationParams(
            prompt="a fox",
            negative_prompt="fog",
            seed=43,
            steps=12,
            cfg=5.5,
            sampler="dpmpp_2m",
            scheduler="karras",
            width=768,
            height=640,
            batch_size=2,
            checkpoint="dreamshaper.safetensors",
        ),
    )
    graph = prepared.graph
    assert graph["6"]["inputs"]["text"] == "a fox"
    assert graph["7"]["inputs"]["text"] == "fog"
    assert {
        k: graph["3"]["inputs"][k] for k in ("seed", "steps", "cfg", "sampler_name", "scheduler")
    } == {"seed": 43, "steps": 12, "cfg": 5.5, "sampler_name": "dpmpp_2m", "scheduler": "karras"}
    assert graph["5"]["inputs"] == {"width": 768, "height": 640, "batch_size": 2}
    assert graph["4"]["inputs"]["ckpt_name"] == "dreamshaper.safetensors"
    assert prepared.output_nodes == ("9",)
    assert prepared.applied["seed"] == 43 and prepared.applied["width"] == 768
    assert sd15.graph == before


def test_unset_values_fall_back_to_metadata_defaults(sd15):
    applied = apply_parameters(sd15, GenerationParams(prompt="x", seed=1)).applied
    assert (applied["steps"], applied["cfg"], applied["width"]) == (20, 7.0, 512)
    assert applied["denoise"] == 1.0


def test_random_seed_is_picked_and_reported(sd15):
    first = apply_parameters(sd15, GenerationParams(prompt="x"), rng=random.Random(1))
    second = apply_parameters(sd15, GenerationParams(prompt="x"), rng=random.Random(2))
    seed = first.applied["seed"]
    assert 0 <= seed <= MAX_RANDOM_SEED
    assert first.graph["3"]["inputs"]["seed"] == seed
    assert second.applied["seed"] != seed


def test_random_seed_respects_the_inputs_maximum(sd15, object_info):
    info = copy.deepcopy(object_info)
    info["KSampler"]["input"]["required"]["seed"][1]["max"] = 3
    seeds = {
        apply_parameters(sd15, GenerationParams(), object_info=info, rng=random.Random(n)).applied[
            "seed"
        ]
        for n in range(20)
    }
    assert seeds <= {0, 1, 2, 3}


def test_seed_reaches_every_sampler_but_steps_only_the_base(test_graph):
    prepared = apply_parameters(test_graph("upscale_hires"), GenerationParams(seed=9, steps=30))
    assert prepared.graph["6"]["inputs"]["seed"] == prepared.graph["12"]["inputs"]["seed"] == 9
    assert (prepared.graph["6"]["inputs"]["steps"], prepared.graph["12"]["inputs"]["steps"]) == (
        30,
        12,
    )


def test_lora_chain_rewires_every_model_and_clip_consumer(sd15):
    prepared = apply_parameters(
        sd15,
        GenerationParams(seed=1, loras=[("a.safetensors", 0.8, 0.6), ("b.safetensors", 1.0, 1.0)]),
    )
    graph = prepared.graph
    assert graph["10"] == {
        "class_type": "LoraLoader",
        "inputs": {
            "model": ["4", 0],
            "clip": ["4", 1],
            "lora_name": "a.safetensors",
            "strength_model": 0.8,
            "strength_clip": 0.6,
        },
        "_meta": {"title": "LoRA a.safetensors"},
    }
    assert graph["11"]["inputs"]["model"] == ["10", 0] and graph["11"]["inputs"]["clip"] == [
        "10",
        1,
    ]
    assert graph["3"]["inputs"]["model"] == ["11", 0]
    assert graph["6"]["inputs"]["clip"] == graph["7"]["inputs"]["clip"] == ["11", 1]
    assert graph["8"]["inputs"]["vae"] == ["4", 2]
    assert prepared.applied["loras"] == [("a.safetensors", 0.8, 0.6), ("b.safetensors", 1.0, 1.0)]
    assert "10" not in sd15.graph


def test_flux_gets_a_model_only_lora_on_every_model_consumer():
    flux = bundled_workflows()["flux_schnell_txt2img"]
    graph = apply_parameters(
        flux, GenerationParams(seed=1, loras=[Lora("style.safetensors", 0.9)])
    ).graph
    assert graph["28"]["class_type"] == "LoraLoaderModelOnly"
    assert graph["28"]["inputs"] == {
        "model": ["12", 0],
        "lora_name": "style.safetensors",
        "strength_model": 0.9,
    }
    assert graph["22"]["inputs"]["model"] == graph["17"]["inputs"]["model"] == ["28", 0]


def test_lora_chain_still_validates_apart_from_models(sd15, object_info):
    graph = apply_parameters(sd15, GenerationParams(seed=1, loras=[("a.safetensors", 1, 1)])).graph
    assert validation_sentences(graph, object_info) == [
        "model 'v1-5-pruned-emaonly-fp16.safetensors' is not installed on this ComfyUI",
        "LoRA 'a.safetensors' is not installed on this ComfyUI",
    ]


def test_img2img_images_fill_the_image_inputs_in_order(test_graph):
    prepared = apply_parameters(
        test_graph("img2img_controlnet"), GenerationParams(images=["in.png", "edges (1).png"])
    )
    assert prepared.graph["4"]["inputs"]["image"] == "in.png"
    assert prepared.graph["12"]["inputs"]["image"] == "edges (1).png"


def test_img2img_without_an_image_is_refused():
    img2img = bundled_workflows()["sd15_img2img"]
    with pytest.raises(ValueError, match="needs an input image"):
        apply_parameters(img2img, GenerationParams(prompt="x"))


def test_image_for_a_workflow_without_image_input_is_refused(sd15):
    with pytest.raises(ValueError, match="does not take an input image"):
        apply_parameters(sd15, GenerationParams(images=["in.png"]))


def test_values_outside_the_metadata_bounds_are_refused(sd15):
    with pytest.raises(ValueError, match=r"^Width 4096 is above the maximum 1024 of workflow"):
        apply_parameters(sd15, GenerationParams(width=4096))


def test_explicit_mapping_overrides_detection_per_parameter(sd15):
    workflow = parse_workflow(
        sd15.graph, "mapped", {"mapping": {"prompt": [{"node": "7", "input": "text"}]}}
    )
    graph = apply_parameters(workflow, GenerationParams(prompt="p", steps=5, seed=1)).graph
    assert graph["7"]["inputs"]["text"] == "p"
    assert graph["6"]["inputs"]["text"] == sd15.graph["6"]["inputs"]["text"]
    assert graph["3"]["inputs"]["steps"] == 5


def test_open_webui_node_list_overrides_detection(sd15):
    nodes = [
        {"type": "prompt", "key": "text", "node_ids": ["7"]},
        {"type": "seed", "key": "seed", "node_ids": ["3"]},
        {"type": "n", "key": "batch_size", "node_ids": ["5"]},
        {"type": "steps", "key": "steps", "node_ids": []},
        {"key": "filename_prefix", "node_ids": ["9"], "value": "owui"},
    ]
    workflow = parse_workflow(sd15.graph, "owui", {"mapping": nodes})
    graph = apply_parameters(
        workflow, GenerationParams(prompt="p", seed=4, batch_size=3, steps=6)
    ).graph
    assert graph["7"]["inputs"]["text"] == "p"
    assert graph["3"]["inputs"]["seed"] == 4
    assert graph["5"]["inputs"]["batch_size"] == 3
    assert graph["3"]["inputs"]["steps"] == 6  # empty node_ids: detection still applies
    assert graph["9"]["inputs"]["filename_prefix"] == "owui"


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"type": "prompt", "node_ids": 7}, "node_ids"),
        ({"type": "prompt", "node_ids": "37"}, "node_ids"),  # not nodes 3 and 7
        ({"type": "prompt", "node_ids": [{"id": 7}]}, "node_ids"),
        ({"type": ["prompt"], "node_ids": ["7"]}, "type and key"),
        ({"key": {"name": "text"}, "node_ids": ["7"]}, "type and key"),
        (5, "must be an object"),
    ],
)
def test_an_open_webui_mapping_entry_of_the_wrong_shape_is_a_sentence(sd15, entry, words):
    with pytest.raises(ValueError, match=words) as refused:
        parse_workflow(sd15.graph, "bad", {"mapping": [entry]})
    assert str(refused.value).endswith(".")


def test_mapping_to_a_missing_node_is_refused(sd15):
    workflow = parse_workflow(
        sd15.graph, "bad", {"mapping": {"seed": [{"node": "99", "input": "seed"}]}}
    )
    with pytest.raises(ValueError, match="node 99, which is not in the workflow"):
        apply_parameters(workflow, GenerationParams())


def test_dropping_the_sdxl_refiner_rewires_the_base(object_info):
    sdxl = bundled_workflows()["sdxl_txt2img"]
    prepared = apply_parameters(sdxl, GenerationParams(prompt="p", seed=1, skip_stages={"refiner"}))
    graph = prepared.graph
    assert not {"11", "12", "15", "16"} & set(graph)
    assert graph["17"]["inputs"] == {"samples": ["10", 0], "vae": ["4", 2]}
    assert graph["10"]["inputs"]["end_at_step"] == 10000
    assert graph["10"]["inputs"]["return_with_leftover_noise"] == "disable"
    assert prepared.applied["skipped_stages"] == ["refiner"]
    assert validation_sentences(graph, object_info) == [
        "model 'sd_xl_base_1.0.safetensors' is not installed on this ComfyUI"
    ]
    assert "12" in sdxl.graph


def test_refiner_is_dropped_when_its_model_is_not_installed(object_info):
    sdxl = bundled_workflows()["sdxl_txt2img"]
    info = copy.deepcopy(object_info)
    info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = [
        "sd_xl_base_1.0.safetensors"
    ]
    prepared = apply_parameters(sdxl, GenerationParams(seed=1), object_info=info)
    assert validation_sentences(prepared.graph, info) == []
    assert (
        detect_parameters(prepared.graph)["steps"] == detect_parameters(prepared.graph)["steps"][:1]
    )

    info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0].append(
        "sd_xl_refiner_1.0.safetensors"
    )
    kept = apply_parameters(sdxl, GenerationParams(seed=1), object_info=info)
    assert "12" in kept.graph and "skipped_stages" not in kept.applied


def test_unknown_stage_is_refused(sd15):
    with pytest.raises(ValueError, match="no optional stage 'refiner'"):
        apply_parameters(sd15, GenerationParams(skip_stages={"refiner"}))
