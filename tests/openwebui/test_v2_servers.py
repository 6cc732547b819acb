"""A Comfy API v2 server configured in the real Open WebUI: the real ``comfy-api-proxy``
in front of the ComfyUI double, as the admin's ``comfy-v2+`` server entry with its API
key. Jobs run there through the same API as on a native server (and through the images
API); what a v2 server cannot tell (its installed models) is answered with a sentence."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import openai
import pytest
from comfy_v2.proxy import ApiProxy

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble, valves_changed
from openwebui.test_api_jobs import finished
from openwebui.test_openai_images import BASE, PNG, user_key  # noqa: F401

API = "/api/v1/comfyui"
TOKEN = "v2-proxy-key"


@pytest.fixture
def v2_only(http: httpx.Client, admin: Account, comfy: ThreadedDouble) -> Iterator[ApiProxy]:
    """The plugin's only server: the proxy in front of the session's double."""
    with (
        ApiProxy(comfy.url, token=TOKEN) as proxy,
        valves_changed(http, admin, comfyui_url=proxy.entry, comfy_api_key=TOKEN),
    ):
        yield proxy


def test_a_generation_runs_on_the_v2_server(
    http: httpx.Client, user: Account, comfy: ThreadedDouble, v2_only: ApiProxy
) -> None:
    received_before = len(comfy.double.prompts_received)

    started = http.post(
        f"{API}/generate", headers=user.headers, json={"prompt": "a fox", "steps": 3}
    )
    assert started.status_code == 202, started.text
    job = finished(http, user, started.json()["id"])

    assert job["state"] == "completed", job
    [output] = job["links"]["outputs"]
    assert http.get(output, headers=user.headers).content.startswith(PNG)
    assert len(comfy.double.prompts_received) == received_before + 1


def test_the_images_api_runs_on_the_v2_server(
    owui: OpenWebUIServer,
    user_key: str,  # noqa: F811
    v2_only: ApiProxy,
) -> None:
    with openai.OpenAI(api_key=user_key, base_url=owui.url + BASE, max_retries=0) as client:
        answer = client.images.generate(
            model="sd15_txt2img", prompt="a heron", response_format="b64_json"
        )

    [image] = answer.data or []
    assert base64.b64decode(image.b64_json or "").startswith(PNG)


def test_health_names_the_v2_server_and_models_say_it_lists_none(
    http: httpx.Client, user: Account, admin: Account, v2_only: ApiProxy
) -> None:
    health = http.get(f"{API}/health", headers=admin.headers).json()
    models = http.get(f"{API}/models", headers=user.headers)

    [backend] = health["backends"]
    assert backend["reachable"] is True and backend["version"] == "Comfy API v2"
    assert models.status_code == 409
    assert "Comfy API v2" in models.json()["detail"]
