"""OpenAI's images API over the workflows, driven by the official ``openai`` SDK (a real
client, from PyPI) with a user's Open WebUI API key, against the real Open WebUI and
the ComfyUI double: images made and edited by our workflows, streamed previews, the
model access and the limits of the rest of the API in OpenAI's error shape, and every
call a job in the user's list."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import openai
import pytest
from PIL import Image

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble, valves_changed
from openwebui.test_api_jobs import finished, png_bytes, slow_steps  # noqa: F401
from openwebui.test_input_rules import job_total, restricted_models  # noqa: F401

API = "/api/v1/comfyui"
BASE = f"{API}/v1"
PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"


@pytest.fixture(scope="session")
def user_key(http: httpx.Client, user: Account) -> str:
    """The user's Open WebUI API key."""
    response = http.post("/api/v1/auths/api_key", headers=user.headers)
    response.raise_for_status()
    return str(response.json()["api_key"])


@pytest.fixture
def client(owui: OpenWebUIServer, user_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        api_key=user_key, base_url=owui.url + BASE, max_retries=0, timeout=60
    ) as sdk:
        yield sdk


def keyed(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def job_of(http: httpx.Client, user: Account, job_id: str) -> dict[str, object]:
    [job] = [
        job
        for job in http.get(f"{API}/jobs", headers=user.headers, params={"limit": 100}).json()[
            "items"
        ]
        if job["id"] == job_id
    ]
    return job


def test_models_are_the_workflows_the_user_may_use_that_make_images(
    client: openai.OpenAI, http: httpx.Client, user: Account
) -> None:
    listed = [model.id for model in client.models.list()]
    usable = [w["id"] for w in http.get(f"{API}/workflows", headers=user.headers).json()]

    assert "sd15_txt2img" in listed and "flux_kontext_edit" in listed
    assert "wan22_t2v" in usable and "wan22_t2v" not in listed  # makes videos
    assert set(listed) <= set(usable)


def test_generate_answers_with_a_link_to_the_stored_image_and_records_a_job(
    client: openai.OpenAI, http: httpx.Client, user: Account, user_key: str
) -> None:
    before = job_total(http, user)

    raw = client.images.with_raw_response.generate(
        model="sd15_txt2img", prompt="a red fox", n=1, size="512x512", extra_body={"seed": 7}
    )
    answer = raw.parse()
    job_id = raw.headers["X-ComfyUI-Job-Id"]

    [image] = answer.data or []
    assert image.url is not None and image.b64_json is None
    stored = http.get(image.url, headers=keyed(user_key))
    assert stored.status_code == 200 and stored.content.startswith(PNG)
    assert Image.open(io.BytesIO(stored.content)).size == (512, 512)
    job = job_of(http, user, job_id)
    assert job["state"] == "completed" and job["workflow"] == "sd15_txt2img"
    assert job["params"]["seed"] == 7 and job["params"]["prompt"] == "a red fox"
    assert [image.url.endswith(path) for path in job["links"]["outputs"]] == [True]
    assert job_total(http, user) == before + 1
    assert answer.output_format == "png"


def test_generate_answers_with_the_image_itself_as_b64_json(
    client: openai.OpenAI, http: httpx.Client, user: Account
) -> None:
    raw = client.images.with_raw_response.generate(
        model="sd15_txt2img", prompt="a blue fox", n=2, response_format="b64_json"
    )

    images = [base64.b64decode(image.b64_json or "") for image in raw.parse().data or []]
    assert len(images) == 2 and all(image.startswith(PNG) for image in images)
    job = job_of(http, user, raw.headers["X-ComfyUI-Job-Id"])
    assert job["state"] == "completed" and len(job["output_file_ids"]) == 2


def test_edit_sends_the_attached_image_to_the_edit_workflow(
    client: openai.OpenAI, comfy: ThreadedDouble, http: httpx.Client, user: Account
) -> None:
    received_before = len(comfy.double.prompts_received)
    attached = png_bytes("green")

    raw = client.images.with_raw_response.edit(
        image=("green.png", attached, "image/png"),
        prompt="make it blue",
        response_format="b64_json",
    )

    [edited] = raw.parse().data or []
    assert base64.b64decode(edited.b64_json or "").startswith(PNG)
    job = job_of(http, user, raw.headers["X-ComfyUI-Job-Id"])
    assert job["state"] == "completed" and job["workflow"] == "flux_kontext_edit"
    [graph] = [body["prompt"] for body in comfy.double.prompts_received[received_before:]]
    loaded = [n["inputs"]["image"] for n in graph.values() if n["class_type"] == "LoadImage"]
    assert [comfy.double.uploaded[name] for name in loaded] == [attached]


def test_an_edit_with_a_mask_repaints_its_transparent_part_with_the_inpaint_workflow(
    client: openai.OpenAI, comfy: ThreadedDouble, http: httpx.Client, user: Account
) -> None:
    received_before = len(comfy.double.prompts_received)
    mask = Image.new("RGBA", (32, 32), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 16, 32))  # the left half is to be repainted
    encoded = io.BytesIO()
    mask.save(encoded, format="PNG")

    raw = client.images.with_raw_response.edit(
        image=("photo.png", png_bytes("green"), "image/png"),
        mask=("mask.png", encoded.getvalue(), "image/png"),
        prompt="a window",
    )

    job = job_of(http, user, raw.headers["X-ComfyUI-Job-Id"])
    assert job["state"] == "completed" and job["workflow"] == "sd15_inpaint"
    [graph] = [body["prompt"] for body in comfy.double.prompts_received[received_before:]]
    [masked] = [n["inputs"]["image"] for n in graph.values() if n["class_type"] == "LoadImageMask"]
    sent = Image.open(io.BytesIO(comfy.double.uploaded[masked])).convert("L")
    assert sent.getpixel((4, 4)) == 255 and sent.getpixel((28, 4)) == 0


def test_a_stream_sends_previews_then_the_image(
    client: openai.OpenAI,
    http: httpx.Client,
    user: Account,
    slow_steps: None,  # noqa: F811
) -> None:
    stream = client.images.generate(
        model="sd15_txt2img",
        prompt="a lighthouse",
        stream=True,
        partial_images=2,
        extra_body={"steps": 16},
    )

    events = list(stream)
    job_id = stream.response.headers["X-ComfyUI-Job-Id"]

    kinds = [event.type for event in events]
    assert kinds == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ], kinds
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    previews = [base64.b64decode(event.b64_json) for event in events[:2]]
    assert all(preview.startswith(JPEG) for preview in previews)
    assert events[0].output_format == "jpeg"
    assert base64.b64decode(events[2].b64_json).startswith(PNG)
    assert events[2].output_format == "png"
    job = job_of(http, user, job_id)
    assert job["state"] == "completed" and job["params"]["prompt"] == "a lighthouse"


def test_a_workflow_open_webui_denies_the_user_is_refused_in_openais_shape(
    client: openai.OpenAI,
    http: httpx.Client,
    user: Account,
    restricted_models: tuple[str, str],  # noqa: F811
) -> None:
    ungranted, inactive = restricted_models
    before = job_total(http, user)

    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.images.generate(model=ungranted, prompt="a cat")
    with pytest.raises(openai.NotFoundError) as unknown:
        client.images.generate(model="dall-e-3", prompt="a cat")
    listed = [model.id for model in client.models.list()]

    assert denied.value.status_code == 403
    error = denied.value.body
    assert isinstance(error, dict) and error["type"] == "permission_error"
    assert f"'{ungranted}'" in error["message"] and error["message"].endswith(".")
    assert isinstance(unknown.value.body, dict)
    assert "'dall-e-3'" in unknown.value.body["message"]
    assert "sd15_txt2img" in unknown.value.body["message"]
    assert ungranted not in unknown.value.body["message"]
    assert ungranted not in listed and inactive not in listed
    assert job_total(http, user) == before


def test_the_job_limit_answers_429_in_openais_shape(
    client: openai.OpenAI,
    http: httpx.Client,
    admin: Account,
    user: Account,
    slow_steps: None,  # noqa: F811
) -> None:
    with valves_changed(http, admin, jobs_per_user=1):
        first = http.post(
            f"{API}/generate", headers=user.headers, json={"prompt": "a slow cat", "steps": 20}
        )
        assert first.status_code == 202, first.text
        with pytest.raises(openai.RateLimitError) as limited:
            client.images.generate(model="sd15_txt2img", prompt="another cat")
        finished(http, user, first.json()["id"])

    error = limited.value.body
    assert limited.value.status_code == 429
    assert isinstance(error, dict) and error["type"] == "rate_limit_error"
    assert error["code"] == "too_many_jobs" and "1 generation running" in error["message"]


def test_requests_it_cannot_serve_answer_sentences_naming_the_field(
    owui: OpenWebUIServer, user_key: str
) -> None:
    with httpx.Client(base_url=owui.url + BASE, headers=keyed(user_key), timeout=30) as api:
        unknown_field = api.post("/images/generations", json={"prompt": "x", "colour": "red"})
        bad_size = api.post("/images/generations", json={"prompt": "x", "size": "big"})
        no_image = api.post("/images/edits", data={"prompt": "x"})
        not_an_image = api.post(
            "/images/edits", data={"prompt": "x"}, files={"image": ("a.png", b"text")}
        )
        anonymous = httpx.post(owui.url + BASE + "/images/generations", json={"prompt": "x"})

    for response, status, param, words in (
        (unknown_field, 400, "colour", "colour"),
        (bad_size, 400, "size", "WIDTHxHEIGHT"),
        (no_image, 400, None, "image"),
        (not_an_image, 415, None, "'a.png' is not an image"),
        (anonymous, 401, None, ""),
    ):
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["message"].endswith(".") and words in error["message"], error
        assert error["param"] == param and error["type"]
