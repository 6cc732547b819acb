"""Read-only parts of /api/v1/comfyui: health, models, workflows and the OpenAPI schema."""

from __future__ import annotations

import httpx

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.test_api_jobs import finished, started

API = "/api/v1/comfyui"


def test_health_reports_the_backend_without_its_url_to_users(
    http: httpx.Client, user: Account, admin: Account, comfy: ThreadedDouble
) -> None:
    seen_by_user = http.get(f"{API}/health", headers=user.headers)
    seen_by_admin = http.get(f"{API}/health", headers=admin.headers).json()

    assert seen_by_user.status_code == 200
    body = seen_by_user.json()
    assert body["ok"] is True
    [backend] = body["backends"]
    assert backend["reachable"] is True
    assert backend["version"]
    assert backend["devices"]
    assert backend["queue_running"] >= 0 and backend["queue_pending"] >= 0
    assert comfy.url not in seen_by_user.text
    assert seen_by_admin["backends"][0]["url"] == comfy.url


def test_admins_see_what_the_scheduler_learnt_of_each_server(
    http: httpx.Client, user: Account, admin: Account, comfy: ThreadedDouble
) -> None:
    job = started(http, user, prompt="a lighthouse")
    assert finished(http, user, job["id"])["state"] == "completed"

    [learnt_by_admin] = http.get(f"{API}/health", headers=admin.headers).json()["backends"]
    [seen_by_user] = http.get(f"{API}/health", headers=user.headers).json()["backends"]

    assert seen_by_user["learnt"] is None
    learnt = learnt_by_admin["learnt"]
    speed = next(speed for speed in learnt["workflows"] if speed["workflow"] == job["workflow"])
    assert speed["runs"] >= 1 and speed["seconds_per_step"] > 0
    assert learnt["resident"] and set(learnt["resident"]) <= set(learnt["load_seconds"])


def test_models_lists_comfyui_model_folders(
    http: httpx.Client, user: Account, comfy: ThreadedDouble
) -> None:
    response = http.get(f"{API}/models", headers=user.headers)

    assert response.status_code == 200
    models = response.json()["models"]
    for folder in ("checkpoints", "loras", "diffusion_models", "vae", "upscale_models"):
        assert models[folder] == comfy.double.models[folder]


def test_workflows_show_parameters_defaults_and_bounds(http: httpx.Client, user: Account) -> None:
    response = http.get(f"{API}/workflows", headers=user.headers)

    assert response.status_code == 200
    workflows = {workflow["id"]: workflow for workflow in response.json()}
    sdxl = workflows["sdxl_txt2img"]
    assert sdxl["source"] == "bundled"
    assert sdxl["kind"] == "txt2img"
    assert {"prompt", "negative_prompt", "seed", "steps", "cfg", "width", "height"} <= set(
        sdxl["parameters"]
    )
    assert sdxl["defaults"]["steps"] == 25
    assert sdxl["bounds"]["width"] == {"min": 512, "max": 2048}
    assert workflows["sd15_img2img"]["kind"] == "img2img"
    assert "images" in workflows["sd15_img2img"]["parameters"]
    assert [w["id"] for w in workflows.values() if w["default"]] == ["sd15_txt2img"]


CONSOLE_OPERATIONS = {
    ("GET", f"{API}/queue"),
    ("GET", f"{API}/servers"),
    ("POST", f"{API}/servers"),
    ("DELETE", f"{API}/servers/{{server_id}}"),
    ("PUT", f"{API}/servers/{{server_id}}/drain"),
    ("GET", f"{API}/workflows/all"),
    ("POST", f"{API}/workflows/check"),
    ("PATCH", f"{API}/workflows/{{workflow_id}}"),
    ("PUT", f"{API}/workflows/{{workflow_id}}/enabled"),
    ("GET", f"{API}/models/servers"),
    ("POST", f"{API}/models/downloads"),
    ("GET", f"{API}/models/downloads"),
    ("POST", f"{API}/models/downloads/{{download_id}}/cancel"),
    ("DELETE", f"{API}/models/files/{{server_id}}/{{folder}}/{{filename}}"),
    ("GET", f"{API}/generations"),
    ("GET", f"{API}/generations/{{file_id}}"),
    ("GET", f"{API}/generations/{{file_id}}/thumbnail"),
    ("DELETE", f"{API}/generations/{{file_id}}"),
}
"""The routes the ComfyUI console uses (every action on its page is one of these)."""


def test_every_route_is_documented_with_examples(owui: OpenWebUIServer) -> None:
    schema = owui.app.openapi()
    operations = {
        (method.upper(), path): operation
        for path, item in schema["paths"].items()
        if path.startswith(API)
        for method, operation in item.items()
    }

    assert set(operations) == {
        ("POST", f"{API}/generate"),
        ("GET", f"{API}/jobs"),
        ("GET", f"{API}/jobs/{{job_id}}"),
        ("POST", f"{API}/jobs/{{job_id}}/cancel"),
        ("GET", f"{API}/workflows"),
        ("POST", f"{API}/workflows"),
        ("DELETE", f"{API}/workflows/{{workflow_id}}"),
        ("GET", f"{API}/models"),
        ("GET", f"{API}/health"),
        ("GET", f"{API}/settings"),
        ("PUT", f"{API}/settings"),
        *CONSOLE_OPERATIONS,
        ("GET", f"{API}/image-engine"),
        ("PUT", f"{API}/image-engine"),
        ("DELETE", f"{API}/image-engine"),
        ("GET", f"{API}/v1/models"),
        ("POST", f"{API}/v1/images/generations"),
        ("POST", f"{API}/v1/images/edits"),
    }
    for key, operation in operations.items():
        assert operation["summary"] and operation["description"], key
        assert operation["tags"] == ["comfyui"], key
        success = next(code for code in operation["responses"] if code.startswith("2"))
        kind = "image/webp" if key[1].endswith("/thumbnail") else "application/json"
        if key[0] != "DELETE":
            assert "schema" in operation["responses"][success]["content"][kind], key
    components = schema["components"]["schemas"]
    for name in ("GenerateRequest", "JobOut", "JobPage", "WorkflowOut", "WorkflowUpload"):
        assert components[name]["examples"], name
    for name in ("HealthOut", "ModelsOut", "ErrorOut", "SettingsUpdate"):
        assert components[name]["examples"], name
    for name in (
        "ServersOut",
        "ServerIn",
        "DrainIn",
        "QueueOut",
        "GenerationsPage",
        "WorkflowCheckIn",
        "WorkflowEdit",
        "EnabledIn",
        "ModelDownloadIn",
    ):
        assert components[name]["examples"], name
    generate = operations[("POST", f"{API}/generate")]
    assert {"400", "404", "415", "422", "429", "503"} <= set(generate["responses"])
    assert generate["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
