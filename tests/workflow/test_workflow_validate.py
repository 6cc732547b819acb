"""Local validation speaks like ComfyUI's own 400 answers, before anything is queued."""

import copy
import json

import pytest
from sentences import validation_sentences

from comfyui_pipe.comfy.errors import PromptRejected
from comfyui_pipe.comfy.problems import problems_in_rejection
from comfyui_pipe.openwebui.presenter import describe, describe_problem
from comfyui_pipe.workflow import bundled_workflows, check_against, find_problems


@pytest.mark.parametrize("workflow_id", sorted(bundled_workflows()))
def test_bundled_workflows_only_lack_their_listed_models(workflow_id, object_info):
    workflow = bundled_workflows()[workflow_id]
    problems = validation_sentences(workflow.graph, object_info)
    listed = {model.filename for model in workflow.meta.models}
    assert len(problems) == len(listed)
    for filename in listed:
        assert sum(f"'{filename}' is not installed on this ComfyUI" in p for p in problems) == 1


def test_missing_model_is_a_readable_rejection(object_info):
    graph = bundled_workflows()["sd15_txt2img"].graph
    with pytest.raises(PromptRejected) as caught:
        check_against(graph, object_info)
    assert [describe_problem(problem) for problem in caught.value.problems] == [
        "model 'v1-5-pruned-emaonly-fp16.safetensors' is not installed on this ComfyUI"
    ]
    assert caught.value.body["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"


def test_installed_model_passes(object_info):
    info = copy.deepcopy(object_info)
    info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = [
        "v1-5-pruned-emaonly-fp16.safetensors"
    ]
    check_against(bundled_workflows()["sd15_txt2img"].graph, info)


def test_out_of_range_value(object_info):
    graph = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 99999, "height": 8, "batch_size": 1, "color": 0},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    with pytest.raises(PromptRejected) as caught:
        check_against(graph, object_info)
    assert describe(caught.value) == "Width 99999 is above the maximum 16384."
    assert validation_sentences(graph, object_info) == ["width 99999 is above the maximum 16384"]


def test_missing_node_type(object_info):
    graph = {
        "1": {"class_type": "Foo", "inputs": {}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    assert validation_sentences(graph, object_info) == [
        "node type 'Foo' is not installed on this ComfyUI"
    ]
    with pytest.raises(PromptRejected):
        check_against(graph, object_info)


def test_new_combo_shape_is_checked(object_info):
    graph = {
        "1": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "warp_drive"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    problems = validation_sentences(graph, object_info)
    assert problems[0].startswith(
        "sampler_name 'warp_drive' is not an allowed value (allowed: euler,"
    )
    # and the SAMPLER output cannot feed an IMAGE input
    assert (
        problems[1]
        == "input 'images' of SaveImage (node 2) is connected to the wrong kind of output"
    )


def test_uploaded_image_names_are_not_checked_against_the_stale_list(object_info):
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "just-uploaded.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    assert validation_sentences(graph, object_info) == []


# The recorded 400 answers of a real server for the same broken graphs: our local
# check must word each one exactly as the server's answer is worded.
RECORDED_CASES = [
    "c1_value_below_min",
    "c2_missing_required_input",
    "c3_bad_combo_value",
    "c4_wrong_type_string_for_int",
    "c6_unknown_class_type",
    "c7_no_output_node",
    "c8_link_to_missing_node",
]


@pytest.mark.parametrize("case", RECORDED_CASES)
def test_same_sentences_as_the_real_server(case, object_info, traces_dir):
    graph = json.loads((traces_dir / "workflows" / "c_invalid_cases.json").read_text("utf-8"))[case]
    recorded = json.loads((traces_dir / "c_invalid_400_summary.json").read_text("utf-8"))[case]
    expected = problems_in_rejection(recorded["body"], graph)
    assert validation_sentences(graph, object_info) == [describe_problem(p) for p in expected]
    assert (
        find_problems(graph, object_info).node_errors.keys()
        == recorded["body"]["node_errors"].keys()
    )


def test_a_node_listing_no_choices_checks_its_own_but_an_empty_loader_lacks_its_model(
    object_info,
):
    info = copy.deepcopy(object_info)
    info["CustomCombo"] = {
        "input": {"required": {"choice": ["COMBO", {"options": []}]}},
        "input_order": {"required": ["choice"]},
        "output": ["STRING"],
        "output_node": False,
    }
    info["PreviewAny"] = {
        "input": {"required": {"source": ["*", {}]}},
        "input_order": {"required": ["source"]},
        "output": [],
        "output_node": True,
    }
    info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] = [[], {}]
    combo = {
        "1": {"class_type": "CustomCombo", "inputs": {"choice": "B"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    loader = bundled_workflows()["sd15_txt2img"].graph

    assert validation_sentences(combo, info) == []  # real ComfyUI runs it
    assert validation_sentences(loader, info) == [
        "model 'v1-5-pruned-emaonly-fp16.safetensors' is not installed on this ComfyUI"
    ]
