"""The workflows as an admin manages them from the console: a file checked before it is
saved (converted, its parameters, model files and what each server lacks), saved with
models missing, edited, disabled and enabled; refusals in sentences."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openwebui.harness import Account
from openwebui.test_api_jobs import API

UI_TXT2IMG = Path(__file__).parent.parent / "fixtures" / "ui_txt2img_sd15.json"
NEEDED = {
    "name": "console_needs.safetensors",
    "url": "http://127.0.0.1:9/console_needs.safetensors",
    "directory": "checkpoints",
    "hash": "AB" * 32,
    "hash_type": "sha256",
}


def ui_workflow(checkpoint: str | None = None) -> dict[str, Any]:
    """The editor's txt2img; with ``checkpoint``, its loader names that file, as ComfyUI's
    templates do (with where to download it)."""
    workflow = json.loads(UI_TXT2IMG.read_text("utf-8"))
    if checkpoint is not None:
        loader = next(n for n in workflow["nodes"] if n["type"] == "CheckpointLoaderSimple")
        loader["widgets_values"] = [checkpoint]
        loader["properties"] = {"models": [{**NEEDED, "name": checkpoint}]}
    return workflow


@pytest.fixture
def uploads_removed(http: httpx.Client, admin: Account) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    for workflow_id in ids:
        http.delete(f"{API}/workflows/{workflow_id}", headers=admin.headers)


@pytest.fixture
def settings_restored(http: httpx.Client, admin: Account) -> Iterator[dict[str, Any]]:
    before = http.get(f"{API}/settings", headers=admin.headers).json()
    yield before
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


def check(http: httpx.Client, admin: Account, workflow_id: str, workflow: Any) -> httpx.Response:
    return http.post(
        f"{API}/workflows/check",
        headers=admin.headers,
        json={"id": workflow_id, "workflow": workflow},
    )


def every_workflow(http: httpx.Client, admin: Account) -> dict[str, dict[str, Any]]:
    response = http.get(f"{API}/workflows/all", headers=admin.headers)
    assert response.status_code == 200, response.text
    return {workflow["id"]: workflow for workflow in response.json()}


def test_a_ui_file_is_checked_before_it_is_saved_and_nothing_is_stored(
    http: httpx.Client, admin: Account
) -> None:
    response = check(http, admin, "ui_checked", ui_workflow())

    assert response.status_code == 200, response.text
    checked = response.json()
    assert checked["format"] == "ui"
    assert checked["workflow"]["3"]["class_type"] == "KSampler"
    assert "20" not in checked["workflow"]  # the note is not part of the prompt
    assert {"prompt", "steps", "seed", "width"} <= set(checked["summary"]["parameters"])
    assert checked["summary"]["outputs"] == ["image"]
    assert checked["problems"] == []
    assert checked["servers"] == [{"server": "server 1", "reachable": True, "problems": []}]
    assert checked["saveable"] is True and checked["exists"] is False
    assert "ui_checked" not in every_workflow(http, admin)


def test_a_workflow_whose_model_is_missing_is_saved_on_request_and_listed_with_what_it_lacks(
    http: httpx.Client, admin: Account, user: Account, uploads_removed: list[str]
) -> None:
    checked = check(http, admin, "needs_model", ui_workflow("console_needs.safetensors")).json()

    [server] = checked["servers"]
    assert "console_needs.safetensors" in " ".join(server["problems"])
    assert checked["saveable"] is True
    assert checked["models"] == [
        {
            "folder": "checkpoints",
            "filename": "console_needs.safetensors",
            "url": NEEDED["url"],
            "size_bytes": None,
            "sha256": "ab" * 32,
        }
    ]
    upload = {
        "id": "needs_model",
        "workflow": checked["workflow"],
        "meta": {"title": "Needs a model", "models": checked["models"]},
    }
    refused = http.post(f"{API}/workflows", headers=admin.headers, json=upload)
    assert refused.status_code == 422
    saved = http.post(
        f"{API}/workflows", headers=admin.headers, json=upload, params={"missing_models": "allow"}
    )
    assert saved.status_code == 201, saved.text
    uploads_removed.append("needs_model")

    listed = every_workflow(http, admin)["needs_model"]
    assert listed["available"] is False and listed["enabled"] is True
    assert "console_needs.safetensors" in " ".join(listed["missing"])
    assert listed["models"] == checked["models"]
    assert listed["servers"][0]["problems"] == server["problems"]
    assert every_workflow(http, admin)["sd15_txt2img"]["available"] is True


@pytest.mark.parametrize(
    ("workflow", "says"),
    [
        ({"nodes": "many", "links": []}, "nodes"),
        ({"nodes": [{"id": 1, "type": "NoSuchNode", "mode": 0}], "links": []}, "NoSuchNode"),
        ({"1": {"inputs": {}}}, "class_type"),
    ],
)
def test_a_file_that_does_not_read_gets_its_problem_as_a_sentence(
    http: httpx.Client, admin: Account, workflow: dict[str, Any], says: str
) -> None:
    checked = check(http, admin, "broken", workflow).json()

    assert checked["saveable"] is False
    assert checked["summary"] is None
    [problem] = checked["problems"]
    assert says in problem and problem.endswith(".")


def test_an_uploaded_workflow_is_edited_and_a_bad_edit_changes_nothing(
    http: httpx.Client, admin: Account, user: Account, uploads_removed: list[str]
) -> None:
    upload = {"id": "editable", "workflow": ui_workflow(), "meta": {"title": "Before"}}
    assert http.post(f"{API}/workflows", headers=admin.headers, json=upload).status_code == 201
    uploads_removed.append("editable")

    edited = http.patch(
        f"{API}/workflows/editable",
        headers=admin.headers,
        json={
            "title": "Portraits",
            "description": "Faces, softly lit.",
            "defaults": {"steps": 12},
            "bounds": {"steps": {"min": 2, "max": 30}},
        },
    )
    assert edited.status_code == 200, edited.text
    refused = http.patch(
        f"{API}/workflows/editable", headers=admin.headers, json={"defaults": {"steps": "many"}}
    )

    assert refused.status_code == 400 and refused.json()["detail"].endswith(".")
    [shown] = [
        w
        for w in http.get(f"{API}/workflows", headers=user.headers).json()
        if w["id"] == "editable"
    ]
    assert shown["title"] == "Portraits" and shown["description"] == "Faces, softly lit."
    assert shown["defaults"]["steps"] == 12
    assert shown["bounds"]["steps"] == {"min": 2, "max": 30}
    bundled = http.patch(
        f"{API}/workflows/sd15_txt2img", headers=admin.headers, json={"title": "x"}
    )
    assert bundled.status_code == 409
    assert http.patch(f"{API}/workflows/nope", headers=admin.headers, json={}).status_code == 404


def test_a_disabled_workflow_is_offered_to_nobody_until_enabled_again(
    http: httpx.Client, admin: Account, user: Account, settings_restored: dict[str, Any]
) -> None:
    def offered() -> set[str]:
        return {w["id"] for w in http.get(f"{API}/workflows", headers=user.headers).json()}

    assert "sd15_img2img" in offered()
    off = http.put(
        f"{API}/workflows/sd15_img2img/enabled", headers=admin.headers, json={"enabled": False}
    )
    assert off.status_code == 200, off.text

    assert "sd15_img2img" not in offered()
    assert every_workflow(http, admin)["sd15_img2img"]["enabled"] is False
    http.put(f"{API}/workflows/sd15_img2img/enabled", headers=admin.headers, json={"enabled": True})
    assert "sd15_img2img" in offered()
    assert http.get(f"{API}/settings", headers=admin.headers).json()["enabled_workflows"] == ""
    unknown = http.put(
        f"{API}/workflows/nope/enabled", headers=admin.headers, json={"enabled": True}
    )
    assert unknown.status_code == 404


def test_the_workflow_admin_routes_are_for_admins_only(http: httpx.Client, user: Account) -> None:
    attempts = [
        http.get(f"{API}/workflows/all", headers=user.headers),
        http.post(f"{API}/workflows/check", headers=user.headers, json={"id": "x", "workflow": {}}),
        http.patch(f"{API}/workflows/sd15_txt2img", headers=user.headers, json={}),
        http.put(
            f"{API}/workflows/sd15_txt2img/enabled", headers=user.headers, json={"enabled": 0}
        ),
    ]

    assert [response.status_code for response in attempts] == [403] * len(attempts)


def test_a_model_entry_that_could_leave_its_folder_is_refused(
    http: httpx.Client, admin: Account
) -> None:
    meta = {"models": [{"folder": "checkpoints", "filename": "../../etc/x.safetensors"}]}
    upload = {"id": "sneaky_model", "workflow": copy.deepcopy(ui_workflow()), "meta": meta}

    response = http.post(f"{API}/workflows", headers=admin.headers, json=upload)

    assert response.status_code == 422
    assert "leaves its folder" in response.json()["detail"]
