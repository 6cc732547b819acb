"""Open WebUI's own image feature on our workflows: an admin's one call points Open WebUI's
image engine "OpenAI" at our images API; Open WebUI's built-in routes then make and edit
images with our workflows, as jobs of the user who asked; our Tool and the built-in
image tools offered together leave the model one ``generate_image`` (ours), and our own
workflow models offer no Image button."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.scripted_model import ScriptedModel
from openwebui.test_api_jobs import png_bytes
from openwebui.test_chat import SocketRecorder, api  # noqa: F401
from openwebui.test_input_rules import job_total
from openwebui.test_tool import answering, ask_model, calls  # noqa: F401

API = "/api/v1/comfyui"
ENGINE = f"{API}/image-engine"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def image_engine(http: httpx.Client, admin: Account) -> Iterator[dict[str, object]]:
    """Open WebUI's image feature pointed here by the admin, and switched off after."""
    response = http.put(ENGINE, headers=admin.headers, json={})
    assert response.status_code == 200, response.text
    yield response.json()
    http.delete(ENGINE, headers=admin.headers).raise_for_status()


def newest_job(http: httpx.Client, user: Account) -> dict[str, object]:
    job: dict[str, object] = http.get(f"{API}/jobs", headers=user.headers).json()["items"][0]
    return job


def test_one_call_points_open_webuis_image_feature_here(
    http: httpx.Client, admin: Account, user: Account, image_engine: dict[str, object]
) -> None:
    settings = http.get("/api/v1/images/config", headers=admin.headers).json()
    by_user = http.put(ENGINE, headers=user.headers, json={})

    assert image_engine["connected"] is True and image_engine["forwards_users"] is True
    assert image_engine["generation_workflow"] == "sd15_txt2img"
    assert image_engine["edit_workflow"] == "flux_kontext_edit"
    assert settings["ENABLE_IMAGE_GENERATION"] is True and settings["ENABLE_IMAGE_EDIT"]
    assert settings["IMAGE_GENERATION_ENGINE"] == settings["IMAGE_EDIT_ENGINE"] == "openai"
    assert str(settings["IMAGES_OPENAI_API_BASE_URL"]).endswith("/api/v1/comfyui/v1")
    assert settings["IMAGES_OPENAI_API_KEY"] and not settings["IMAGES_OPENAI_API_KEY"].startswith(
        "sk-"
    )
    assert by_user.status_code == 403


def test_open_webuis_own_generation_route_makes_an_image_with_our_workflow(
    http: httpx.Client, user: Account, comfy: ThreadedDouble, image_engine: dict[str, object]
) -> None:
    before = job_total(http, user)
    received_before = len(comfy.double.prompts_received)

    response = http.post(
        "/api/v1/images/generations", headers=user.headers, json={"prompt": "a harbour at dawn"}
    )

    assert response.status_code == 200, response.text
    [image] = response.json()
    stored = http.get(image["url"], headers=user.headers)
    assert stored.status_code == 200 and stored.content.startswith(PNG)
    job = newest_job(http, user)
    assert job_total(http, user) == before + 1
    assert job["owner_id"] == user.id and job["state"] == "completed"
    assert job["workflow"] == "sd15_txt2img" and job["params"]["prompt"] == "a harbour at dawn"
    [graph] = [body["prompt"] for body in comfy.double.prompts_received[received_before:]]
    texts = [n["inputs"]["text"] for n in graph.values() if n["class_type"] == "CLIPTextEncode"]
    assert "a harbour at dawn" in texts


def test_open_webuis_own_edit_route_edits_with_our_edit_workflow(
    http: httpx.Client, user: Account, comfy: ThreadedDouble, image_engine: dict[str, object]
) -> None:
    received_before = len(comfy.double.prompts_received)
    attached = "data:image/png;base64," + base64.b64encode(png_bytes("red")).decode()

    response = http.post(
        "/api/v1/images/edit",
        headers=user.headers,
        json={"prompt": "make it green", "image": attached},
    )

    assert response.status_code == 200, response.text
    job = newest_job(http, user)
    assert job["workflow"] == "flux_kontext_edit" and job["state"] == "completed"
    [graph] = [body["prompt"] for body in comfy.double.prompts_received[received_before:]]
    [loaded] = [n["inputs"]["image"] for n in graph.values() if n["class_type"] == "LoadImage"]
    assert comfy.double.uploaded[loaded]  # the image Open WebUI sent (re-encoded by it)


def test_without_open_webui_saying_who_asks_the_engine_key_is_refused(
    owui: OpenWebUIServer, http: httpx.Client, admin: Account, image_engine: dict[str, object]
) -> None:
    key = http.get("/api/v1/images/config", headers=admin.headers).json()["IMAGES_OPENAI_API_KEY"]
    base = f"{owui.url}{API}/v1"

    anonymous = httpx.post(
        f"{base}/images/generations",
        headers={"Authorization": f"Bearer {key}"},
        json={"prompt": "x"},
    )
    nobody = httpx.post(
        f"{base}/images/generations",
        headers={"Authorization": f"Bearer {key}", "X-OpenWebUI-User-Id": "no-such-user"},
        json={"prompt": "x"},
    )

    assert anonymous.status_code == nobody.status_code == 401
    assert "ENABLE_FORWARD_USER_INFO_HEADERS" in anonymous.json()["error"]["message"]
    assert "does not exist" in nobody.json()["error"]["message"]


async def test_with_our_tool_the_model_is_offered_one_generate_image_ours(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    scripted: ScriptedModel,
    answering: SocketRecorder,  # noqa: F811
    image_engine: dict[str, object],
) -> None:
    scripted.script = calls("generate_image", prompt="a kite")
    before = len(scripted.requests)

    _, reply_id = await ask_model(
        api, user, answering, "draw a kite", features={"image_generation": True}
    )
    await answering.wait_done(reply_id)

    first = scripted.requests[before]
    offered = scripted.offered_tools(first)
    assert offered.count("generate_image") == 1 and offered.count("edit_image") == 1
    [spec] = [t for t in first["tools"] if t["function"]["name"] == "generate_image"]
    assert "workflow" in spec["function"]["parameters"]["properties"]  # our Tool's
    [result] = scripted.tool_results()[-1:]
    assert "seed" in result and "/api/v1/files/" in result, result  # our Tool's words


def test_our_workflow_models_offer_no_image_button(http: httpx.Client, user: Account) -> None:
    models = http.get("/api/models", headers=user.headers).json()["data"]
    ours = [m for m in models if m["id"].startswith("comfyui.")]

    assert ours
    for model in ours:
        capabilities = model["info"]["meta"]["capabilities"]
        assert capabilities["image_generation"] is False, model["id"]
