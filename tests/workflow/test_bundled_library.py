"""The bundled library against a current ComfyUI (v0.33's recorded node schemas, with the
library's models installed): every workflow validates once a request is applied, lists the
kinds of output it makes, and takes its input images the way its description says."""

from __future__ import annotations

from typing import Any

import pytest
from comfyui_double.schema import build_object_info
from comfyui_double.versions import V0_33
from default_models import DEFAULT_MODELS
from sentences import validation_sentences

from comfyui_pipe.workflow import (
    GenerationParams,
    apply_parameters,
    bundled_workflows,
)

INPUT_FILES = ["photo.png", "mask.png"]


@pytest.fixture(scope="module")
def current_server() -> dict[str, Any]:
    return build_object_info(V0_33.object_info_path, DEFAULT_MODELS, INPUT_FILES)


def request_for(workflow_id: str, images: int | None = None) -> GenerationParams:
    workflow = bundled_workflows()[workflow_id]
    wanted = workflow.image_inputs if images is None else images
    return GenerationParams(prompt="a lighthouse", seed=7, images=tuple(INPUT_FILES[:wanted]))


@pytest.mark.parametrize("workflow_id", sorted(bundled_workflows()))
def test_every_bundled_workflow_runs_as_applied_on_a_current_server(
    workflow_id: str, current_server: dict[str, Any]
) -> None:
    workflow = bundled_workflows()[workflow_id]
    prepared = apply_parameters(workflow, request_for(workflow_id), object_info=current_server)

    assert validation_sentences(prepared.graph, current_server) == []
    assert prepared.output_nodes


@pytest.mark.parametrize("workflow_id", sorted(bundled_workflows()))
def test_every_bundled_workflow_is_offered_with_its_models_installed(
    workflow_id: str, current_server: dict[str, Any]
) -> None:
    assert validation_sentences(bundled_workflows()[workflow_id].graph, current_server) == []


EXPECTED_KINDS = {
    "wan22_t2v": ("video",),
    "wan22_i2v": ("video",),
}


@pytest.mark.parametrize("workflow_id", sorted(bundled_workflows()))
def test_output_kinds_are_read_from_the_output_nodes(workflow_id: str) -> None:
    assert bundled_workflows()[workflow_id].output_kinds == EXPECTED_KINDS.get(
        workflow_id, ("image",)
    )


def test_a_library_covers_edit_inpaint_upscale_and_video() -> None:
    by_kind: dict[str, set[str]] = {}
    for workflow in bundled_workflows().values():
        by_kind.setdefault(workflow.meta.kind, set()).add(workflow.id)

    assert by_kind["edit"] == {"flux_kontext_edit", "qwen_image_edit"}
    assert by_kind["inpaint"] == {"sd15_inpaint"}
    assert by_kind["upscale"] == {"upscale_2x", "upscale_4x"}
    assert by_kind["video"] == {"wan22_t2v", "wan22_i2v"}


def test_the_fast_default_is_a_one_to_four_step_model() -> None:
    turbo = bundled_workflows()["sd_turbo_txt2img"]
    assert turbo.meta.defaults["steps"] == 1
    assert turbo.meta.bounds["steps"].maximum == 4


def test_inpaint_takes_the_mask_from_the_image_alpha_when_one_image_is_attached(
    current_server: dict[str, Any],
) -> None:
    inpaint = bundled_workflows()["sd15_inpaint"]
    prepared = apply_parameters(inpaint, request_for("sd15_inpaint", images=1))
    graph = prepared.graph

    assert graph["10"]["inputs"]["image"] == "photo.png"
    assert "12" not in graph  # no mask image node
    assert graph["11"]["inputs"]["mask"] == ["10", 1]  # LoadImage's MASK: the alpha
    assert validation_sentences(graph, current_server) == []


def test_inpaint_takes_the_mask_from_a_second_attachment() -> None:
    inpaint = bundled_workflows()["sd15_inpaint"]
    graph = apply_parameters(inpaint, request_for("sd15_inpaint", images=2)).graph

    assert graph["10"]["inputs"]["image"] == "photo.png"
    assert graph["12"]["inputs"]["image"] == "mask.png"
    assert graph["11"]["inputs"]["mask"] == ["12", 0]


def test_inpaint_without_any_image_asks_for_one() -> None:
    inpaint = bundled_workflows()["sd15_inpaint"]
    with pytest.raises(ValueError, match="needs an input image"):
        apply_parameters(inpaint, GenerationParams(prompt="flowers"))


def test_image_to_video_starts_from_the_attached_image() -> None:
    i2v = bundled_workflows()["wan22_i2v"]
    graph = apply_parameters(i2v, request_for("wan22_i2v")).graph

    [loader] = [n for n in graph.values() if n["class_type"] == "LoadImage"]
    [latent] = [n for n in graph.values() if n["class_type"] == "Wan22ImageToVideoLatent"]
    assert loader["inputs"]["image"] == "photo.png"
    assert latent["inputs"]["start_image"][0] in graph
