"""The scripted tool-calling model as an Open WebUI connection, shared by the Tool's API
and browser tests: given our Tool and Actions by the admin, who shares the Tool with
``user`` (not with ``other_user``), with a short video workflow to make clips with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from comfyui_pipe.openwebui.function_source import ACTIONS, TOOL
from openwebui.harness import Account
from openwebui.scripted_model import MODEL_ID, ScriptedModel

PUBLIC_READ = {"principal_type": "user", "principal_id": "*", "permission": "read"}
VIDEO_WORKFLOW = "tool_test_video"


def _video_graph() -> dict[str, Any]:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a clip", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 4},
        },
        "5": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1,
                "steps": 2,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["1", 0],
                "positive": ["2", 0],
                "negative": ["3", 0],
                "latent_image": ["4", 0],
            },
        },
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {
            "class_type": "SaveWEBM",
            "inputs": {
                "images": ["6", 0],
                "filename_prefix": "clip",
                "codec": "vp9",
                "fps": 8.0,
                "crf": 32.0,
            },
        },
    }


@pytest.fixture(scope="session")
def scripted(http: httpx.Client, admin: Account, user: Account) -> Iterator[ScriptedModel]:
    """The scripted model as an OpenAI connection, given our Tool and Actions by the admin,
    who also shares the Tool with ``user`` (not with ``other_user``)."""
    with ScriptedModel() as model:
        http.post(
            "/openai/config/update",
            headers=admin.headers,
            json={
                "ENABLE_OPENAI_API": True,
                "OPENAI_API_BASE_URLS": [model.url],
                "OPENAI_API_KEYS": ["sk-scripted"],
                "OPENAI_API_CONFIGS": {"0": {"enable": True}},
            },
        ).raise_for_status()
        http.get("/api/models", headers=admin.headers).raise_for_status()
        http.post(
            "/api/v1/models/create",
            headers=admin.headers,
            json={
                "id": MODEL_ID,
                "base_model_id": None,
                "name": "Scripted",
                "meta": {"toolIds": [TOOL.id], "actionIds": [ACTIONS.id]},
                "params": {},
                "access_grants": [PUBLIC_READ],
            },
        ).raise_for_status()
        share_tool_with(http, admin, [user])
        # Open WebUI lists a model's actions when it builds its model list
        http.get("/api/models", headers=admin.headers).raise_for_status()
        http.post(
            "/api/v1/comfyui/workflows",
            headers=admin.headers,
            json={
                "id": VIDEO_WORKFLOW,
                "workflow": _video_graph(),
                "meta": {"title": "Test clip", "kind": "video"},
            },
        ).raise_for_status()
        yield model


def share_tool_with(http: httpx.Client, admin: Account, accounts: list[Account]) -> None:
    grants = [
        {"principal_type": "user", "principal_id": account.id, "permission": "read"}
        for account in accounts
    ]
    http.post(
        f"/api/v1/tools/id/{TOOL.id}/access/update",
        headers=admin.headers,
        json={"access_grants": grants},
    ).raise_for_status()
