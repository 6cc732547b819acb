import json

import pytest

from comfyui_pipe.workflow import (
    bundled_workflows,
    bundled_workflows_dir,
    load_workflow,
    load_workflow_dir,
    parse_workflow,
)

UI_FORMAT = {
    "last_node_id": 9,
    "nodes": [{"id": 3, "type": "KSampler"}],
    "links": [],
    "version": 0.4,
}


def test_ui_format_is_rejected_with_a_pointer_to_save_api():
    with pytest.raises(ValueError, match=r"Save \(API\)"):
        parse_workflow(UI_FORMAT, "mine")


def test_node_without_class_type_is_rejected():
    with pytest.raises(ValueError, match="Node 3 of workflow 'mine' has no class_type"):
        parse_workflow({"3": {"inputs": {}}}, "mine")


def test_invalid_json_text_is_rejected():
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_workflow("{nope", "mine")


def test_links_are_normalised_to_string_node_ids():
    workflow = parse_workflow(
        '{"1": {"class_type": "EmptyImage", "inputs": {"width": 8}},'
        ' "2": {"class_type": "SaveImage", "inputs": {"images": [1, 0]}}}',
        "mine",
    )
    assert workflow.graph["2"]["inputs"]["images"] == ["1", 0]
    assert workflow.title == "mine"


def test_load_workflow_reads_the_sibling_metadata(tmp_path):
    (tmp_path / "pic.json").write_text(
        json.dumps({"1": {"class_type": "EmptyImage", "inputs": {}}}), "utf-8"
    )
    (tmp_path / "pic.meta.json").write_text(
        json.dumps({"title": "Picture", "kind": "txt2img", "bounds": {"width": {"max": 64}}}),
        "utf-8",
    )
    workflow = load_workflow(tmp_path / "pic.json")
    assert (workflow.id, workflow.title) == ("pic", "Picture")
    assert workflow.meta.bounds["width"].maximum == 64
    assert set(load_workflow_dir(tmp_path)) == {"pic"}


def test_bundled_workflows_come_with_complete_metadata():
    workflows = bundled_workflows()
    assert bundled_workflows_dir().name in ("workflows", "bundled_workflows")
    kinds = {workflow.meta.kind for workflow in workflows.values()}
    assert kinds == {"txt2img", "img2img", "edit", "inpaint", "upscale", "video"}
    for workflow in workflows.values():
        meta = workflow.meta
        assert meta.title and meta.description, workflow.id
        assert meta.models and all(m.url.startswith("https://") for m in meta.models)
        assert all(m.sha256 is None or len(m.sha256) == 64 for m in meta.models)
        if "steps" in workflow.parameters:
            assert "steps" in meta.defaults and "steps" in meta.bounds, workflow.id
    assert workflows["sd15_img2img"].meta.kind == "img2img"
