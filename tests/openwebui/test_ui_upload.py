"""A workflow saved in ComfyUI's editor format, uploaded by an admin, generates."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from openwebui.harness import Account, ThreadedDouble
from openwebui.test_api_admin import API, model_ids
from openwebui.test_api_jobs import finished, started
from openwebui.test_chat import api, saved_message, send_chat, socket_for

__all__ = ["api", "socket_for"]  # fixtures shared with the chat tests

UI_TXT2IMG = Path(__file__).parent.parent / "fixtures" / "ui_txt2img_sd15.json"


def test_a_ui_format_upload_becomes_a_model_that_generates(
    http: httpx.Client, admin: Account, user: Account, comfy: ThreadedDouble
) -> None:
    upload = {"id": "ui_txt2img", "workflow": json.loads(UI_TXT2IMG.read_text("utf-8"))}

    created = http.post(f"{API}/workflows", headers=admin.headers, json=upload)

    assert created.status_code == 201, created.text
    try:
        assert {"prompt", "steps", "seed"} <= set(created.json()["parameters"])
        assert "comfyui.ui_txt2img" in model_ids(http, user)
        job = started(http, user, workflow="ui_txt2img", prompt="a red fox", seed=99)
        done = finished(http, user, job["id"])
        assert done["state"] == "completed", done["error"]
        posted = [r.json["prompt"] for r in comfy.double.requests if r.path == "/prompt"][-1]
        assert posted["3"]["inputs"]["seed"] == 99
        assert posted["4"]["inputs"] == {"ckpt_name": "sd15.safetensors"}
        assert "20" not in posted  # the editor's note is not sent
    finally:
        http.delete(f"{API}/workflows/ui_txt2img", headers=admin.headers)


def test_a_ui_format_upload_with_an_unknown_node_type_names_it(
    http: httpx.Client, admin: Account
) -> None:
    workflow = json.loads(UI_TXT2IMG.read_text("utf-8"))
    workflow["nodes"].append({"id": 21, "type": "FancyUpscaler", "mode": 0, "inputs": []})

    response = http.post(
        f"{API}/workflows", headers=admin.headers, json={"id": "ui_broken", "workflow": workflow}
    )

    assert response.status_code == 422
    assert "FancyUpscaler" in response.json()["detail"]


async def test_a_ui_format_upload_is_a_chat_model_that_answers_with_the_image(
    api: httpx.AsyncClient,
    admin: Account,
    user: Account,
    comfy: ThreadedDouble,
    socket_for: Any,
) -> None:
    upload = {"id": "ui_chat", "workflow": json.loads(UI_TXT2IMG.read_text("utf-8"))}
    created = await api.post(f"{API}/workflows", headers=admin.headers, json=upload)
    assert created.status_code == 201, created.text
    try:
        listed = (await api.get("/api/models", headers=user.headers)).json()["data"]
        assert "comfyui.ui_chat" in {model["id"] for model in listed}
        recorder = await socket_for(user)

        turn = await send_chat(api, user, recorder, "a red fox --seed 7", model="comfyui.ui_chat")
        await recorder.wait_done(turn[1])

        saved = await saved_message(api, user, turn)
        [image] = saved["files"]
        content = await api.get(image["url"], headers=user.headers)
        assert Image.open(io.BytesIO(content.content)).format == "PNG"
        assert "seed 7" in saved["content"]
        posted = [r.json["prompt"] for r in comfy.double.requests if r.path == "/prompt"][-1]
        assert posted["3"]["inputs"]["seed"] == 7
        assert posted["6"]["inputs"]["text"] == "a red fox"
    finally:
        await api.delete(f"{API}/workflows/ui_chat", headers=admin.headers)
