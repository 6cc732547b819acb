"""Issue 18, item 5: every list a user sends is bounded, in the API, the chat and the
Actions' re-run options alike; a request body too large for any valid request is
refused before it is read. Each refusal is a 4xx with a sentence, stores no job and
sends nothing to ComfyUI."""

from __future__ import annotations

import base64
import io
import time

import httpx
import pytest
from PIL import Image

from comfyui_pipe.generation.limits import MAX_INPUT_IMAGES, MAX_LORAS
from openwebui.harness import Account, ThreadedDouble
from openwebui.test_input_rules import assert_sentence, chat_reply, job_total

API = "/api/v1/comfyui"


def png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param(
            {"workflow": "sd15_txt2img", "loras": [{"name": "detail", "strength": 0.5}] * 10_000},
            ["10,000 LoRAs", f"at most {MAX_LORAS}"],
            id="10,000 LoRAs",
        ),
        pytest.param(
            {"workflow": "sd15_img2img", "images": [png_data_url()] * 1000},
            ["1,000 images", f"at most {MAX_INPUT_IMAGES}"],
            id="1,000 images",
        ),
        pytest.param(
            {"workflow": "sd15_img2img", "images": [png_data_url()] * 2},
            ["takes 1 input image", "2 were attached"],
            id="more images than the workflow takes",
        ),
    ],
)
def test_too_many_items_are_refused_at_once_and_nothing_is_stored_sent_or_uploaded(
    http: httpx.Client, user: Account, comfy: ThreadedDouble, body: dict, words: list[str]
) -> None:
    total = job_total(http, user)
    prompts, uploads = len(comfy.double.prompts_received), len(comfy.double.uploaded)

    started = time.monotonic()
    response = http.post(f"{API}/generate", headers=user.headers, json={"prompt": "a cat", **body})

    assert time.monotonic() - started < 5
    assert_sentence(response, 400, *words)
    assert job_total(http, user) == total
    assert len(comfy.double.prompts_received) == prompts
    assert len(comfy.double.uploaded) == uploads


def test_the_most_loras_allowed_still_generate(
    http: httpx.Client, user: Account, comfy: ThreadedDouble
) -> None:
    loras = [{"name": "detail", "strength": 0.1}] * MAX_LORAS
    response = http.post(
        f"{API}/generate",
        headers=user.headers,
        json={"workflow": "sd15_txt2img", "prompt": "a cat", "steps": 2, "loras": loras},
    )

    assert response.status_code == 202, response.text
    assert len(response.json()["params"]["loras"]) == MAX_LORAS


def test_many_lora_tags_in_a_chat_message_are_refused_with_a_sentence(
    http: httpx.Client, user: Account, comfy: ThreadedDouble
) -> None:
    total, prompts = job_total(http, user), len(comfy.double.prompts_received)

    reply = chat_reply(http, user, "a cat " + "<lora:detail:0.5> " * 1000, "comfyui.sd15_txt2img")

    assert "1,000 LoRAs" in reply and f"at most {MAX_LORAS}" in reply, reply
    assert job_total(http, user) == total
    assert len(comfy.double.prompts_received) == prompts


def test_a_body_larger_than_any_valid_request_is_refused_before_it_is_read(
    http: httpx.Client, user: Account, admin: Account
) -> None:
    total = job_total(http, user)
    http.put(
        f"{API}/settings", headers=admin.headers, json={"max_image_bytes": 1000}
    ).raise_for_status()
    try:
        padding = "x" * (MAX_INPUT_IMAGES * 2000 + 2 * 2**20)
        response = http.post(
            f"{API}/generate",
            headers={**user.headers, "Content-Type": "application/json"},
            content=f'{{"prompt": "a cat", "negative_prompt": "{padding}"}}',
        )
    finally:
        http.put(
            f"{API}/settings", headers=admin.headers, json={"max_image_bytes": 20 * 2**20}
        ).raise_for_status()

    assert_sentence(response, 413, "request body is larger than")
    assert job_total(http, user) == total
