"""Building the parameters: defaults, admin limits, workflow bounds, aspect ratios."""

import pytest

from comfyui_pipe.generation import (
    Limits,
    RequestError,
    RequestOptions,
    build_params,
    parse_message,
)
from comfyui_pipe.generation.limits import (
    MAX_INPUT_IMAGES,
    MAX_LORA_NAME_LENGTH,
    MAX_LORAS,
    check_lists,
    max_request_bytes,
)
from comfyui_pipe.workflow import Lora, Workflow, bundled_workflows

WORKFLOWS = bundled_workflows()
NO_DEFAULTS = RequestOptions()


def params_for(workflow_id: str, message: str, defaults: RequestOptions = NO_DEFAULTS, **limits):
    parsed = parse_message(message)
    return build_params(
        WORKFLOWS[workflow_id], parsed.prompt, parsed.options, defaults, Limits(**limits), []
    )


@pytest.mark.parametrize(
    ("workflow_id", "aspect", "size"),
    [
        ("sdxl_txt2img", "16:9", (1344, 768)),
        ("sdxl_txt2img", "9:16", (768, 1344)),
        ("sdxl_txt2img", "1:1", (1024, 1024)),
        ("sd15_txt2img", "3:2", (640, 448)),
    ],
)
def test_an_aspect_ratio_keeps_the_workflow_area_in_multiples_of_64(
    workflow_id: str, aspect: str, size: tuple[int, int]
) -> None:
    params = params_for(workflow_id, f"a cat --ar {aspect}")
    assert (params.width, params.height) == size


def test_an_extreme_aspect_ratio_is_shrunk_to_fit_the_largest_side() -> None:
    params = params_for("sdxl_txt2img", "a panorama --ar 3:1", max_size=1536)
    assert (params.width, params.height) == (1536, 512)


def test_oversized_requests_get_a_sentence() -> None:
    with pytest.raises(
        RequestError, match=r"^Width 4096 is above the maximum 2048 allowed here\.$"
    ):
        params_for("sdxl_txt2img", "a cat --size 4096x1024", max_size=2048)
    with pytest.raises(RequestError, match=r"^Steps 120 is above the maximum 80 allowed here\.$"):
        params_for("sdxl_txt2img", "a cat --steps 120", max_steps=80)
    with pytest.raises(RequestError, match=r"^Count 9 is above the maximum 4 allowed here\.$"):
        params_for("sdxl_txt2img", "a cat --n 9", max_count=4)


def test_the_workflow_bounds_apply_below_the_admin_limits() -> None:
    with pytest.raises(
        RequestError,
        match=r"^Width 1536 is above the maximum 1024 of workflow 'Stable Diffusion 1\.5'\.$",
    ):
        params_for("sd15_txt2img", "a cat --size 1536x512", max_size=2048)


def test_message_options_override_user_defaults_and_negatives_add_up() -> None:
    defaults = RequestOptions(width=640, height=640, steps=10, count=2, negative_prompt="watermark")
    params = params_for("sd15_txt2img", "a cat --steps 25 --no blurry <lora:detail:0.5>", defaults)
    assert (params.width, params.height) == (640, 640)
    assert (params.steps, params.batch_size) == (25, 2)
    assert params.negative_prompt == "blurry, watermark"
    assert params.loras == (Lora("detail.safetensors", 0.5, 0.5),)
    assert params.prompt == "a cat"


def test_unset_values_are_left_to_the_workflow() -> None:
    params = params_for("sd15_txt2img", "a cat")
    assert (params.width, params.steps, params.cfg, params.seed, params.batch_size) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_images_must_match_the_workflow() -> None:
    txt2img: Workflow = WORKFLOWS["sd15_txt2img"]
    img2img: Workflow = WORKFLOWS["sd15_img2img"]
    with pytest.raises(
        RequestError, match="does not take an input image; choose an image-to-image"
    ):
        build_params(txt2img, "a cat", NO_DEFAULTS, NO_DEFAULTS, Limits(), ["photo.png"])
    with pytest.raises(RequestError, match="needs an input image; attach it"):
        build_params(img2img, "a cat", NO_DEFAULTS, NO_DEFAULTS, Limits(), [])
    with pytest.raises(RequestError, match="takes its size from the input image"):
        build_params(
            img2img, "a cat", RequestOptions(aspect=(1, 1)), NO_DEFAULTS, Limits(), ["a.png"]
        )


def test_an_empty_prompt_is_refused() -> None:
    with pytest.raises(RequestError, match="no prompt"):
        params_for("sd15_txt2img", "--steps 20")


def test_the_lora_count_is_bounded_in_chat_messages_as_in_the_api() -> None:
    tags = " ".join(["<lora:detail:0.5>"] * (MAX_LORAS + 1))
    with pytest.raises(
        RequestError,
        match=rf"^The request asks for {MAX_LORAS + 1} LoRAs; at most {MAX_LORAS} can be "
        r"applied at once\.$",
    ):
        params_for("sd15_txt2img", f"a cat {tags}")
    most = params_for("sd15_txt2img", "a cat " + " ".join(["<lora:detail:0.5>"] * MAX_LORAS))
    assert len(most.loras) == MAX_LORAS


def test_a_lora_name_is_bounded() -> None:
    with pytest.raises(RequestError, match=r"^The LoRA name is 1,025 characters long"):
        params_for("sd15_txt2img", f"a cat <lora:{'x' * (MAX_LORA_NAME_LENGTH + 1)}:0.5>")


def test_the_image_count_is_bounded_before_the_workflow_is_asked() -> None:
    with pytest.raises(RequestError, match=r"^The request attaches 9 images; at most 8 "):
        check_lists(WORKFLOWS["sd15_img2img"], 0, MAX_INPUT_IMAGES + 1)
    with pytest.raises(RequestError, match=r"takes 1 input image\(s\), but 2 were attached\.$"):
        check_lists(WORKFLOWS["sd15_img2img"], 0, 2)
    check_lists(None, MAX_LORAS, MAX_INPUT_IMAGES)


def test_the_largest_request_body_follows_the_image_limit_and_the_workflows() -> None:
    limits = Limits(max_image_bytes=3_000_000, max_prompt_length=1000)
    txt2img, inpaint = WORKFLOWS["sd15_txt2img"], WORKFLOWS["sd15_inpaint"]

    text_only = max_request_bytes(limits, [txt2img])
    with_images = max_request_bytes(limits, [txt2img, inpaint])

    # two data URLs of 3 MB each, base64: 4 MB each and their headers
    assert 8_000_000 < with_images - text_only < 8_001_000
    assert text_only < 2 * 2**20
