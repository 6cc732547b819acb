"""No sentence a user reads names where ComfyUI lives, nor its credentials: every error path
the API offers, with the servers unreachable from the start or lost in the middle of a job
(the admin alone sees addresses, in the settings and the health of each server)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from default_models import DEFAULT_MODELS
from PIL import Image

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble, free_port
from openwebui.job_events import JobEvents
from openwebui.test_api_jobs import API

SECRET_TOKEN = "tok-3f9c2a-never-shown"
SECRET_HEADER = "hdr-77b1e0-never-shown"


def unreachable_servers() -> list[str]:
    """Two addresses where nothing listens."""
    return [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.2:{free_port()}"]


def secrets_of(urls: list[str]) -> list[str]:
    return [*(url.removeprefix("http://") for url in urls), SECRET_TOKEN, SECRET_HEADER]


def assert_says_nothing_of(texts: list[str], urls: list[str]) -> None:
    for text in texts:
        for secret in secrets_of(urls):
            assert secret not in text, (secret, text)


@pytest.fixture
def servers_set_to(http: httpx.Client, admin: Account) -> Iterator[Any]:
    before = http.get(f"{API}/settings", headers=admin.headers).json()

    def point_at(urls: list[str], **more: Any) -> None:
        settings = {
            "comfyui_url": ", ".join(urls),
            "comfyui_token": SECRET_TOKEN,
            "comfyui_auth_header": f"X-Comfy-Key: {SECRET_HEADER}",
            **more,
        }
        response = http.put(f"{API}/settings", headers=admin.headers, json=settings)
        assert response.status_code == 200, response.text

    yield point_at
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


def png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def every_route_with_servers_down(http: httpx.Client, user: Account, admin: Account) -> list:
    """What each route answers while no server answers."""
    upload = {
        "id": "addressless",
        "workflow": {
            "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64,
                                                       "batch_size": 1, "color": 0}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0],
                                                      "filename_prefix": "x"}},
        },
    }  # fmt: skip
    ui_upload = {"id": "addressless_ui", "workflow": {"nodes": [], "links": []}}
    return [
        http.post(f"{API}/generate", headers=user.headers, json={"prompt": "a fox"}),
        http.post(
            f"{API}/generate",
            headers=user.headers,
            json={"workflow": "sd15_img2img", "prompt": "a fox", "images": [png_data_url()]},
        ),
        http.get(f"{API}/models", headers=user.headers),
        http.get(f"{API}/health", headers=user.headers),
        http.get(f"{API}/workflows", headers=user.headers),
        http.get(f"{API}/jobs", headers=user.headers),
        http.post(f"{API}/workflows", headers=admin.headers, json=upload),
        http.post(f"{API}/workflows", headers=admin.headers, json=ui_upload),
        http.get(f"{API}/models", headers=admin.headers),
        http.get(f"{API}/workflows", headers=admin.headers),
    ]


def test_no_route_names_an_unreachable_server_or_its_credentials(
    http: httpx.Client, user: Account, admin: Account, servers_set_to: Any
) -> None:
    urls = unreachable_servers()
    servers_set_to(urls)

    answers = every_route_with_servers_down(http, user, admin)

    statuses = [answer.status_code for answer in answers]
    assert statuses[:3] == [503, 503, 503], [answer.text for answer in answers[:3]]
    assert 500 not in statuses
    assert_says_nothing_of([answer.text for answer in answers], urls)
    health = answers[3].json()
    assert [backend["reachable"] for backend in health["backends"]] == [False, False]
    assert all(backend["error"] for backend in health["backends"])


async def test_a_job_whose_server_goes_away_ends_without_naming_it(
    owui: OpenWebUIServer, user: Account, servers_set_to: Any
) -> None:
    with ThreadedDouble(models=DEFAULT_MODELS, step_seconds=0.2) as doomed:
        servers_set_to([doomed.url], job_timeout=3)
        async with (
            JobEvents(owui.url, user) as events,
            httpx.AsyncClient(base_url=owui.url, headers=user.headers, timeout=30) as api,
        ):
            response = await api.post(f"{API}/generate", json={"prompt": "a heron", "steps": 40})
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            await events.wait_for(job_id, lambda event: event["stage"] == "sampling")
            doomed.run(doomed.double.__aexit__(None, None, None))
            seen = await events.wait_for(job_id, lambda event: event["state"] == "failed")
            ended = (await api.get(f"{API}/jobs/{job_id}")).json()
            cancel = await api.post(f"{API}/jobs/{job_id}/cancel")

    assert ended["state"] == "failed" and ended["error"]
    assert cancel.status_code == 200
    assert_says_nothing_of([str(ended), cancel.text, *(str(event) for event in seen)], [doomed.url])
