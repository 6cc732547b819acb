"""What a job costs on each server, learnt from what the servers did."""

from __future__ import annotations

import pytest

from comfyui_pipe.generation.costs import (
    PRIOR_LOAD,
    Observed,
    Resident,
    ServerCosts,
)
from comfyui_pipe.generation.shapes import REFERENCE_PIXELS, JobShape, shape_of

SDXL = "CheckpointLoaderSimple:sdxl.safetensors"
SD15 = "CheckpointLoaderSimple:sd15.safetensors"


def job(workflow: str = "txt2img", steps: int = 10, pixels: int = REFERENCE_PIXELS, model=SDXL):
    models = frozenset([model]) if model else frozenset()
    return JobShape(workflow, steps, pixels, models, (("4", models),) if model else ())


def test_a_server_is_priced_by_a_prior_until_it_has_run_a_job_then_by_what_it_did() -> None:
    costs = ServerCosts()
    prior = costs.estimate("gpu", job())
    assert not prior.learnt and prior.load == PRIOR_LOAD

    # ten steps of 0.1 s, 0.5 s beside them, and 3 s loading the checkpoint
    costs.observe("gpu", job(), Observed(4.5, 0.1, {SDXL: 3.0}))

    now = costs.estimate("gpu", job())
    assert now.learnt and now.load == 0.0  # it holds the checkpoint now
    assert now.run == pytest.approx(1.5)
    assert costs.estimate("gpu", job(steps=20)).run == pytest.approx(2.5)
    assert costs.estimate("gpu", job(), Resident()).load == pytest.approx(3.0)


def test_a_server_that_ran_nothing_is_priced_as_the_best_one_that_has() -> None:
    costs = ServerCosts()
    costs.observe("fast", job(), Observed(1.0, 0.05, {}))
    costs.observe("slow", job(), Observed(4.0, 0.3, {}))

    new = costs.estimate("new", job())

    assert not new.learnt and new.run == pytest.approx(1.0)


def test_each_workflow_is_learnt_on_its_own() -> None:
    costs = ServerCosts()
    costs.observe("gpu", job("txt2img"), Observed(1.5, 0.1, {}))
    costs.observe("gpu", job("upscale", steps=0, model=None), Observed(6.0, None, {}))

    assert costs.estimate("gpu", job("txt2img")).run == pytest.approx(1.5)
    assert costs.estimate("gpu", job("upscale", steps=0, model=None)).run == pytest.approx(6.0)


def test_a_workflow_a_server_has_not_run_is_priced_from_another_server_that_has() -> None:
    costs = ServerCosts()
    costs.observe("a", job("txt2img"), Observed(2.0, 0.1, {}))
    costs.observe("a", job("video"), Observed(12.0, 1.0, {}))
    costs.observe("b", job("txt2img"), Observed(4.0, 0.2, {}))

    # b's steps take twice a's: the video workflow there, twice a's
    assert costs.estimate("b", job("video")).run == pytest.approx(24.0)


def test_bigger_images_cost_more_per_step_as_the_server_has_shown() -> None:
    costs = ServerCosts()
    costs.observe("gpu", job(pixels=REFERENCE_PIXELS), Observed(1.0, 0.1, {}))
    costs.observe("gpu", job(pixels=4 * REFERENCE_PIXELS), Observed(2.0, 0.2, {}))

    # per step ∝ pixels^0.5 here: at 16× the pixels, 0.4 s a step
    assert costs.estimate("gpu", job(pixels=16 * REFERENCE_PIXELS)).run == pytest.approx(
        0.0 + 10 * 0.4, abs=0.01
    )


def test_loading_a_model_is_learnt_and_counted_only_where_it_is_not_held() -> None:
    costs = ServerCosts()
    costs.observe("gpu", job(model=SD15), Observed(3.5, 0.1, {SD15: 2.5}))
    costs.observe("gpu", job(model=SDXL), Observed(5.0, 0.1, {SDXL: 4.0}))

    assert costs.resident("gpu").models == {SDXL}
    assert costs.estimate("gpu", job(model=SDXL)).load == 0.0
    assert costs.estimate("gpu", job(model=SD15)).load == pytest.approx(2.5)
    # the loading was not counted as running: 1 s each
    assert costs.estimate("gpu", job(model=SD15)).run == pytest.approx(1.0)


def test_a_server_found_still_holding_a_model_is_believed_to_hold_more() -> None:
    costs = ServerCosts()
    costs.observe("gpu", job(model=SD15), Observed(3.5, 0.1, {SD15: 2.5}))
    costs.observe("gpu", job(model=SDXL), Observed(5.0, 0.1, {SDXL: 4.0}))
    assert costs.resident("gpu").keeps == 1

    costs.observe("gpu", job(model=SD15), Observed(1.0, 0.1, {}, cached=frozenset([SD15])))

    assert costs.resident("gpu").keeps == 2
    assert costs.resident("gpu").models == {SD15, SDXL}


def test_a_job_whose_steps_went_unseen_tells_nothing() -> None:
    costs = ServerCosts()

    costs.observe("gpu", job(), Observed(2.0, None, {}))

    assert not costs.learnt("gpu")


def test_a_prompts_shape_names_its_workflow_steps_size_and_model_files() -> None:
    prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 1024, "height": 768, "batch_size": 2},
        },
        "3": {"class_type": "KSampler", "inputs": {"steps": 30, "model": ["4", 0]}},
    }

    shape = shape_of("sdxl_txt2img", prompt)

    assert (shape.workflow, shape.steps, shape.pixels) == ("sdxl_txt2img", 30, 1024 * 768 * 2)
    assert shape.models == {SDXL}
    assert shape.loaders == (("4", frozenset([SDXL])),)
