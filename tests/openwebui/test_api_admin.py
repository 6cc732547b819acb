"""Admin-only parts of /api/v1/comfyui: settings (the Pipe's valves) and uploaded workflows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from comfyui_double.graphs import txt2img_prompt

from openwebui.harness import Account

API = "/api/v1/comfyui"
MISSING_MODEL = "missing_model.safetensors"


@pytest.fixture
def settings_restored(http: httpx.Client, admin: Account) -> Iterator[dict[str, Any]]:
    before = http.get(f"{API}/settings", headers=admin.headers).json()
    yield before
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


def test_non_admin_cannot_read_or_change_settings_or_workflows(
    http: httpx.Client, user: Account
) -> None:
    attempts = [
        http.get(f"{API}/settings", headers=user.headers),
        http.put(f"{API}/settings", headers=user.headers, json={"max_steps": 5}),
        http.post(
            f"{API}/workflows",
            headers=user.headers,
            json={"id": "sneaky", "workflow": txt2img_prompt()},
        ),
        http.delete(f"{API}/workflows/sd15_txt2img", headers=user.headers),
    ]

    assert [response.status_code for response in attempts] == [403, 403, 403, 403]
    assert all(response.json()["detail"] for response in attempts)


def test_settings_need_a_signed_in_user(http: httpx.Client, owui: object) -> None:
    with httpx.Client(base_url=str(http.base_url)) as anonymous:
        assert anonymous.get(f"{API}/settings").status_code == 401


def test_admin_settings_update_is_the_pipes_valves(
    http: httpx.Client, admin: Account, settings_restored: dict[str, Any]
) -> None:
    assert "comfyui_token" in settings_restored  # secrets are shown to admins

    response = http.put(f"{API}/settings", headers=admin.headers, json={"max_steps": 33})

    assert response.status_code == 200
    assert response.json()["max_steps"] == 33
    assert response.json()["comfyui_url"] == settings_restored["comfyui_url"]
    valves = http.get("/api/v1/functions/id/comfyui/valves", headers=admin.headers).json()
    assert valves["max_steps"] == 33
    assert http.get(f"{API}/settings", headers=admin.headers).json()["max_steps"] == 33


def test_invalid_settings_are_refused_and_nothing_changes(
    http: httpx.Client, admin: Account, settings_restored: dict[str, Any]
) -> None:
    refused = http.put(f"{API}/settings", headers=admin.headers, json={"max_steps": 0})
    unknown = http.put(f"{API}/settings", headers=admin.headers, json={"colour": "blue"})

    assert refused.status_code == 422
    assert "max_steps" in str(refused.json()["detail"])
    assert unknown.status_code == 422
    current = http.get(f"{API}/settings", headers=admin.headers).json()
    assert current["max_steps"] == settings_restored["max_steps"]


def test_uploaded_workflow_is_listed_offered_as_a_model_and_deleted(
    http: httpx.Client, admin: Account, user: Account
) -> None:
    upload = {
        "id": "api_uploaded",
        "workflow": txt2img_prompt(),
        "meta": {"title": "Uploaded SD", "defaults": {"steps": 4}},
    }

    created = http.post(f"{API}/workflows", headers=admin.headers, json=upload)

    assert created.status_code == 201, created.text
    assert created.json()["source"] == "uploaded"
    assert {"prompt", "steps", "seed", "width"} <= set(created.json()["parameters"])
    listed = {w["id"]: w for w in http.get(f"{API}/workflows", headers=user.headers).json()}
    assert listed["api_uploaded"]["title"] == "Uploaded SD"
    assert listed["api_uploaded"]["defaults"] == {"steps": 4}
    assert "comfyui.api_uploaded" in model_ids(http, user)

    deleted = http.delete(f"{API}/workflows/api_uploaded", headers=admin.headers)

    assert deleted.status_code == 204
    listed_after = {w["id"] for w in http.get(f"{API}/workflows", headers=user.headers).json()}
    assert "api_uploaded" not in listed_after
    assert "comfyui.api_uploaded" not in model_ids(http, user)
    again = http.delete(f"{API}/workflows/api_uploaded", headers=admin.headers)
    assert again.status_code == 404


def test_upload_is_validated_against_the_server(http: httpx.Client, admin: Account) -> None:
    graph = txt2img_prompt(checkpoint=MISSING_MODEL)
    graph["10"] = {"class_type": "FancyUpscaler", "inputs": {"image": ["8", 0]}}

    response = http.post(
        f"{API}/workflows", headers=admin.headers, json={"id": "api_broken", "workflow": graph}
    )

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "Node type 'FancyUpscaler' is not installed on this ComfyUI." in detail
    workflows = {w["id"] for w in http.get(f"{API}/workflows", headers=admin.headers).json()}
    assert "api_broken" not in workflows


def test_upload_with_an_uninstalled_model_names_it(http: httpx.Client, admin: Account) -> None:
    response = http.post(
        f"{API}/workflows",
        headers=admin.headers,
        json={"id": "api_no_model", "workflow": txt2img_prompt(checkpoint=MISSING_MODEL)},
    )

    assert response.status_code == 422
    assert "'missing_model.safetensors' is not installed" in response.json()["detail"]


def test_bundled_workflows_cannot_be_deleted_or_replaced(
    http: httpx.Client, admin: Account
) -> None:
    deleted = http.delete(f"{API}/workflows/sd15_txt2img", headers=admin.headers)
    replaced = http.post(
        f"{API}/workflows",
        headers=admin.headers,
        json={"id": "sd15_txt2img", "workflow": txt2img_prompt()},
    )

    assert deleted.status_code == 409
    assert "enabled_workflows" in deleted.json()["detail"]
    assert replaced.status_code == 409
    workflows = {w["id"] for w in http.get(f"{API}/workflows", headers=admin.headers).json()}
    assert "sd15_txt2img" in workflows


def model_ids(http: httpx.Client, account: Account) -> set[str]:
    response = http.get("/api/models", headers=account.headers)
    response.raise_for_status()
    return {model["id"] for model in response.json()["data"]}
