"""Parameter detection reads the wiring, not ids or titles."""

import pytest

from comfyui_pipe.workflow import Target, bundled_workflows, detect_parameters


def targets(workflow) -> dict[str, list[tuple[str, str]]]:
    found = detect_parameters(workflow.graph).targets
    return {name: [tuple(t) for t in found_targets] for name, found_targets in found.items()}


SD15_KSAMPLER = {
    "prompt": [("6", "text")],
    "negative_prompt": [("7", "text")],
    "seed": [("3", "seed")],
    "steps": [("3", "steps")],
    "cfg": [("3", "cfg")],
    "sampler": [("3", "sampler_name")],
    "scheduler": [("3", "scheduler")],
    "denoise": [("3", "denoise")],
    "checkpoint": [("4", "ckpt_name")],
}

BUNDLED_EXPECTED = {
    "sd15_txt2img": {
        **SD15_KSAMPLER,
        "width": [("5", "width")],
        "height": [("5", "height")],
        "batch_size": [("5", "batch_size")],
    },
    "sd15_img2img": {**SD15_KSAMPLER, "images": [("10", "image")]},
    "sdxl_txt2img": {
        "prompt": [("6", "text"), ("15", "text")],
        "negative_prompt": [("7", "text"), ("16", "text")],
        "seed": [("10", "noise_seed"), ("11", "noise_seed")],
        "steps": [("10", "steps"), ("11", "steps")],
        "cfg": [("10", "cfg"), ("11", "cfg")],
        "sampler": [("10", "sampler_name"), ("11", "sampler_name")],
        "scheduler": [("10", "scheduler"), ("11", "scheduler")],
        "width": [("5", "width")],
        "height": [("5", "height")],
        "batch_size": [("5", "batch_size")],
        "checkpoint": [("4", "ckpt_name")],
    },
    "flux_schnell_txt2img": {
        "prompt": [("6", "text")],
        "seed": [("25", "noise_seed")],
        "steps": [("17", "steps")],
        "sampler": [("16", "sampler_name")],
        "scheduler": [("17", "scheduler")],
        "denoise": [("17", "denoise")],
        "width": [("27", "width")],
        "height": [("27", "height")],
        "batch_size": [("27", "batch_size")],
        "checkpoint": [("12", "unet_name")],
    },
    "flux_dev_txt2img": {
        "prompt": [("6", "text")],
        "cfg": [("26", "guidance")],
        "seed": [("25", "noise_seed")],
        "sampler": [("16", "sampler_name")],
        "scheduler": [("17", "scheduler")],
        "steps": [("17", "steps")],
        "denoise": [("17", "denoise")],
        "width": [("27", "width")],
        "height": [("27", "height")],
        "batch_size": [("27", "batch_size")],
        "checkpoint": [("12", "unet_name")],
    },
    "flux_kontext_edit": {
        "prompt": [("6", "text")],
        "cfg": [("35", "guidance")],
        "seed": [("31", "seed")],
        "sampler": [("31", "sampler_name")],
        "scheduler": [("31", "scheduler")],
        "steps": [("31", "steps")],
        "denoise": [("31", "denoise")],
        "checkpoint": [("37", "unet_name")],
        "images": [("41", "image")],
    },
    "qwen_image_edit": {
        "prompt": [("76", "prompt")],
        "negative_prompt": [("77", "prompt")],
        "cfg": [("3", "cfg")],
        "seed": [("3", "seed")],
        "sampler": [("3", "sampler_name")],
        "scheduler": [("3", "scheduler")],
        "steps": [("3", "steps")],
        "denoise": [("3", "denoise")],
        "checkpoint": [("37", "unet_name")],
        "images": [("78", "image")],
    },
    "sd15_hires_txt2img": {
        "prompt": [("6", "text")],
        "negative_prompt": [("7", "text")],
        "cfg": [("3", "cfg"), ("11", "cfg")],
        "seed": [("3", "seed"), ("11", "seed")],
        "sampler": [("3", "sampler_name"), ("11", "sampler_name")],
        "scheduler": [("3", "scheduler"), ("11", "scheduler")],
        "steps": [("3", "steps")],
        "denoise": [("3", "denoise")],
        "width": [("5", "width")],
        "height": [("5", "height")],
        "batch_size": [("5", "batch_size")],
        "checkpoint": [("4", "ckpt_name")],
    },
    "sd15_inpaint": {
        "prompt": [("6", "text")],
        "negative_prompt": [("7", "text")],
        "cfg": [("3", "cfg")],
        "seed": [("3", "seed")],
        "sampler": [("3", "sampler_name")],
        "scheduler": [("3", "scheduler")],
        "steps": [("3", "steps")],
        "denoise": [("3", "denoise")],
        "checkpoint": [("4", "ckpt_name")],
        "images": [("10", "image"), ("12", "image")],
    },
    "sd_turbo_txt2img": {
        "prompt": [("2", "text")],
        "negative_prompt": [("3", "text")],
        "cfg": [("7", "cfg")],
        "seed": [("7", "noise_seed")],
        "sampler": [("6", "sampler_name")],
        "steps": [("5", "steps")],
        "denoise": [("5", "denoise")],
        "width": [("4", "width")],
        "height": [("4", "height")],
        "batch_size": [("4", "batch_size")],
        "checkpoint": [("1", "ckpt_name")],
    },
    "upscale_2x": {
        "upscale_model": [("2", "model_name")],
        "images": [("1", "image")],
    },
    "upscale_4x": {
        "upscale_model": [("2", "model_name")],
        "images": [("1", "image")],
    },
    "wan22_i2v": {
        "prompt": [("6", "text")],
        "negative_prompt": [("7", "text")],
        "cfg": [("3", "cfg")],
        "seed": [("3", "seed")],
        "sampler": [("3", "sampler_name")],
        "scheduler": [("3", "scheduler")],
        "steps": [("3", "steps")],
        "denoise": [("3", "denoise")],
        "width": [("55", "width")],
        "height": [("55", "height")],
        "batch_size": [("55", "batch_size")],
        "checkpoint": [("37", "unet_name")],
        "images": [("56", "image")],
    },
    "wan22_t2v": {
        "prompt": [("6", "text")],
        "negative_prompt": [("7", "text")],
        "cfg": [("3", "cfg")],
        "seed": [("3", "seed")],
        "sampler": [("3", "sampler_name")],
        "scheduler": [("3", "scheduler")],
        "steps": [("3", "steps")],
        "denoise": [("3", "denoise")],
        "width": [("55", "width")],
        "height": [("55", "height")],
        "batch_size": [("55", "batch_size")],
        "checkpoint": [("37", "unet_name")],
    },
}

BUNDLED_OUTPUTS = {
    "sd15_txt2img": ("9",),
    "sd15_img2img": ("9",),
    "sdxl_txt2img": ("19",),
    "flux_schnell_txt2img": ("9",),
    "flux_dev_txt2img": ("9",),
    "flux_kontext_edit": ("136",),
    "qwen_image_edit": ("60",),
    "sd15_hires_txt2img": ("9",),
    "sd15_inpaint": ("9",),
    "sd_turbo_txt2img": ("9",),
    "upscale_2x": ("4",),
    "upscale_4x": ("4",),
    "wan22_i2v": ("58",),
    "wan22_t2v": ("58",),
}


def test_every_bundled_workflow_has_expectations():
    assert set(bundled_workflows()) == set(BUNDLED_EXPECTED)


@pytest.mark.parametrize("workflow_id", sorted(BUNDLED_EXPECTED))
def test_bundled_workflow_parameters(workflow_id):
    workflow = bundled_workflows()[workflow_id]
    assert targets(workflow) == BUNDLED_EXPECTED[workflow_id]
    assert detect_parameters(workflow.graph).output_nodes == BUNDLED_OUTPUTS[workflow_id]


def test_sdxl_refiner_with_sdxl_encoders_ignores_misleading_titles(test_graph):
    found = targets(test_graph("sdxl_refiner_sdxl_encoders"))
    # node 110 is titled "Negative" but feeds the samplers' positive input
    assert found["prompt"] == [("110", "text_g"), ("110", "text_l"), ("120", "text")]
    assert found["negative_prompt"] == [("111", "text_g"), ("111", "text_l"), ("121", "text")]
    assert found["seed"] == [("140", "noise_seed"), ("141", "noise_seed")]
    # the refiner continues the base schedule (start_at_step 24), so it shares the step count
    assert found["steps"] == [("140", "steps"), ("141", "steps")]
    assert found["width"] == [("130", "width")]
    assert found["checkpoint"] == [("101", "ckpt_name")]
    assert "denoise" not in found


def test_flux_guidance_with_sampler_custom_advanced(test_graph):
    parameters = detect_parameters(test_graph("flux_dev_guidance").graph)
    assert dict(parameters.targets) == {
        "prompt": (Target("5", "text"),),
        "cfg": (Target("6", "guidance"),),
        "seed": (Target("8", "noise_seed"),),
        "sampler": (Target("9", "sampler_name"),),
        "scheduler": (Target("10", "scheduler"),),
        "steps": (Target("10", "steps"),),
        "denoise": (Target("10", "denoise"),),
        "width": (Target("11", "width"), Target("4", "width")),
        "height": (Target("11", "height"), Target("4", "height")),
        "batch_size": (Target("11", "batch_size"),),
        "checkpoint": (Target("1", "unet_name"),),
    }
    assert parameters.model_loader == "1"
    assert parameters.output_nodes == ("14",)


def test_flux_ksampler_zeroed_negative_is_not_a_prompt(test_graph):
    found = targets(test_graph("flux_ksampler_zero_out"))
    assert found["prompt"] == [("31", "text")]
    assert "negative_prompt" not in found
    # CFG stays 1 on the sampler; the user's cfg becomes Flux guidance
    assert found["cfg"] == [("32", "guidance")]
    assert found["width"] == [("34", "width")]


def test_img2img_through_controlnet_finds_both_sides_and_images_in_order(test_graph):
    found = targets(test_graph("img2img_controlnet"))
    assert found["prompt"] == [("2", "text")]
    assert found["negative_prompt"] == [("3", "text")]
    assert found["denoise"] == [("8", "denoise")]
    assert found["images"] == [("4", "image"), ("12", "image")]
    assert "width" not in found


def test_hires_fix_with_model_upscale(test_graph):
    workflow = test_graph("upscale_hires")
    found = targets(workflow)
    assert found["seed"] == [("6", "seed"), ("12", "seed")]
    assert found["steps"] == [("6", "steps")]
    assert found["denoise"] == [("6", "denoise")]
    assert found["width"] == [("5", "width")]
    assert found["batch_size"] == [("5", "batch_size")]
    assert found["checkpoint"] == [("1", "ckpt_name")]
    assert found["loras"] == [("2", "lora_name")]
    assert found["upscale_model"] == [("8", "model_name")]
    assert detect_parameters(workflow.graph).output_nodes == ("14", "15")


def test_model_upscale_without_sampler(test_graph):
    parameters = detect_parameters(test_graph("upscale_only").graph)
    assert dict(parameters.targets) == {
        "upscale_model": (Target("2", "model_name"),),
        "images": (Target("1", "image"),),
    }
    assert parameters.output_nodes == ("4",)


def test_seed_held_by_a_primitive_node_is_written_there():
    graph = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 5}},
        "2": {"class_type": "KSampler", "inputs": {"seed": ["1", 0], "steps": 4}},
    }
    assert detect_parameters(graph)["seed"] == (Target("1", "value"),)
