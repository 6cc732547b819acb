"""Workflows against a real ComfyUI's node schemas and model lists: which bundled
workflows can run there and what the others lack, uploads of the official templates in
the editor's format (refused naming the models the server lacks, accepted otherwise),
and a template that needs no model generating through to Open WebUI's files."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from comfyui_real import RealComfyUI
from PIL import Image

from comfyui_pipe.workflow import bundled_workflows
from openwebui.harness import Account
from openwebui.real_comfyui import REAL_TIMEOUT, prompt_ids_with_text
from openwebui.test_api_admin import API
from openwebui.test_api_jobs import finished
from openwebui.test_chat import api, saved_message, send_chat, socket_for

__all__ = ["api", "socket_for"]  # fixtures shared with the chat tests

pytestmark = pytest.mark.real_comfyui

TEMPLATES = Path(__file__).parent.parent / "fixtures" / "ui_templates"
TEMPLATE_NAMES = sorted(
    path.name.removesuffix(".json")
    for path in TEMPLATES.glob("*.json")
    if not path.name.endswith(".api.json")
)
MODEL_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf")


@pytest.fixture(scope="module")
def installed(real_comfyui: RealComfyUI) -> set[str]:
    """Every model file the real server has, in any folder (its own ``/models`` API)."""
    return {
        name
        for folder in real_comfyui.get("/models")
        for name in real_comfyui.get(f"/models/{folder}")
    }


def template(name: str) -> Any:
    return json.loads((TEMPLATES / f"{name}.json").read_text("utf-8"))


def model_files(api_graph: dict[str, Any]) -> set[str]:
    """The model files an API-format graph names."""
    return {
        value
        for node in api_graph.values()
        for value in node["inputs"].values()
        if isinstance(value, str) and value.endswith(MODEL_SUFFIXES)
    }


async def test_workflow_list_says_which_bundled_workflows_the_real_server_can_run(
    api: httpx.AsyncClient,
    user: Account,
    real_backend: RealComfyUI,
    installed: set[str],
    socket_for: Any,
) -> None:
    listed = {w["id"]: w for w in (await api.get(f"{API}/workflows", headers=user.headers)).json()}
    models = (await api.get("/api/models", headers=user.headers)).json()["data"]
    names = {model["id"]: model["name"] for model in models}

    lacking: dict[str, set[str]] = {}
    for workflow_id, workflow in bundled_workflows().items():
        absent = {model.filename for model in workflow.meta.models} - installed
        entry = listed[workflow_id]
        assert entry["available"] == (not absent), entry
        for filename in absent:
            assert any(filename in sentence for sentence in entry["missing"]), entry
        missing_tag = "(models missing)" in names[f"comfyui.{workflow_id}"]
        assert missing_tag is bool(absent), names[f"comfyui.{workflow_id}"]
        if absent:
            lacking[workflow_id] = absent
    assert "sd15_txt2img" not in lacking and "flux_schnell_txt2img" in lacking

    recorder = await socket_for(user)
    turn = await send_chat(
        api, user, recorder, "a fox nobody draws --steps 2", model="comfyui.flux_schnell_txt2img"
    )
    await recorder.wait_done(turn[1])
    answer = (await saved_message(api, user, turn))["content"]
    assert answer.startswith("⚠️") and "flux1-schnell.safetensors" in answer, answer
    assert prompt_ids_with_text(real_backend, "history", "a fox nobody draws") == []


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_template_upload_is_refused_exactly_when_the_real_server_lacks_its_models(
    http: httpx.Client,
    admin: Account,
    real_backend: RealComfyUI,
    installed: set[str],
    name: str,
) -> None:
    workflow_id = "template_" + "".join(c if c.isalnum() else "_" for c in name)
    absent = model_files(template(f"{name}.api")) - installed

    response = http.post(
        f"{API}/workflows",
        headers=admin.headers,
        json={"id": workflow_id, "workflow": template(name)},
    )

    try:
        if absent:
            assert response.status_code == 422, response.text
            for filename in absent:
                assert f"'{filename}' is not installed" in response.json()["detail"]
        else:
            assert response.status_code == 201, response.text
            assert response.json()["available"] is True
    finally:
        if response.status_code == 201:
            http.delete(f"{API}/workflows/{workflow_id}", headers=admin.headers)


def png_data_url(color: str, size: tuple[int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_template_that_needs_no_model_runs_on_the_real_server(
    http: httpx.Client, admin: Account, user: Account, real_backend: RealComfyUI
) -> None:
    name = "utility_interpolation_image_upscale"  # LoadImage → ImageScaleBy ×2 → SaveImage
    assert not model_files(template(f"{name}.api"))
    created = http.post(
        f"{API}/workflows",
        headers=admin.headers,
        json={"id": "template_upscale", "workflow": template(name)},
    )
    assert created.status_code == 201, created.text
    try:
        started = http.post(
            f"{API}/generate",
            headers=user.headers,
            json={"workflow": "template_upscale", "images": [png_data_url("teal", (40, 30))]},
        )
        assert started.status_code == 202, started.text
        done = finished(http, user, started.json()["id"], REAL_TIMEOUT)
        assert done["state"] == "completed", done["error"]
        [file_id] = done["output_file_ids"]
        content = http.get(f"/api/v1/files/{file_id}/content", headers=user.headers)
        assert content.headers["content-type"].startswith("image/png")
        with Image.open(io.BytesIO(content.content)) as png:
            assert png.size == (80, 60)
            assert png.convert("RGB").getpixel((40, 30)) == (0, 128, 128)
    finally:
        http.delete(f"{API}/workflows/template_upscale", headers=admin.headers)
