"""A workflow whose model is missing on every server: the chat's model list names it
"(models missing)" and says what is missing, a message to it answers with that
sentence (nothing reaches ComfyUI), the Tool picks no such workflow, and all of it
ends once the model is installed."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from comfyui_pipe.openwebui.catalog.availability import reachable_object_infos
from comfyui_pipe.openwebui.runtime import get_runtime
from comfyui_pipe.workflow import bundled_workflows
from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.test_api_admin import API
from openwebui.test_chat import (  # noqa: F401  (fixtures)
    api,
    saved_message,
    send_chat,
    socket_for,
)

WORKFLOW = "vanishing_test"
MODEL = f"comfyui.{WORKFLOW}"
CHECKPOINT = "vanishing.safetensors"


def _graph() -> dict[str, Any]:
    graph = copy.deepcopy(dict(bundled_workflows()["sd15_txt2img"].graph))
    for node in graph.values():
        if node["class_type"] == "CheckpointLoaderSimple":
            node["inputs"]["ckpt_name"] = CHECKPOINT
    return graph


@pytest.fixture
def vanishing(
    http: httpx.Client, admin: Account, comfy: ThreadedDouble, owui: OpenWebUIServer
) -> Iterator[list[str]]:
    """A workflow uploaded while its checkpoint was there, then the checkpoint removed
    (as when a disk is cleaned) and the plugin's node schemas fetched again (as after
    ComfyUI restarts); yields the double's checkpoint list to put it back."""
    checkpoints = comfy.double.models["checkpoints"]
    checkpoints.append(CHECKPOINT)
    upload = {"id": WORKFLOW, "workflow": _graph(), "meta": {"title": "Vanishing"}}
    created = http.post(f"{API}/workflows", headers=admin.headers, json=upload)
    assert created.status_code == 201, created.text
    checkpoints.remove(CHECKPOINT)
    try:
        refetch_schemas(owui)
        yield checkpoints
    finally:
        if CHECKPOINT in checkpoints:
            checkpoints.remove(CHECKPOINT)
        http.delete(f"{API}/workflows/{WORKFLOW}", headers=admin.headers)


def refetch_schemas(owui: OpenWebUIServer) -> None:
    pool = owui.run(get_runtime(owui.app)).service.pool
    owui.run(reachable_object_infos(pool, refresh=True))


async def chat_model(http: httpx.AsyncClient, account: Account, model_id: str) -> dict[str, Any]:
    listed = (await http.get("/api/models", headers=account.headers)).json()["data"]
    [model] = [m for m in listed if m["id"] == model_id]
    return model


async def test_a_workflow_missing_its_model_is_shown_as_such_until_it_is_installed(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    comfy: ThreadedDouble,
    socket_for: Any,  # noqa: F811
    vanishing: list[str],
) -> None:
    model = await chat_model(api, user, MODEL)
    assert model["name"] == "ComfyUI · Vanishing (models missing)"
    assert CHECKPOINT in model["info"]["meta"]["description"]
    working = await chat_model(api, user, "comfyui.sd15_txt2img")
    assert working["name"] == "ComfyUI · Stable Diffusion 1.5"
    workflows = (await api.get(f"{API}/workflows", headers=user.headers)).json()
    [listed] = [w for w in workflows if w["id"] == WORKFLOW]
    assert listed["available"] is False and CHECKPOINT in " ".join(listed["missing"])

    recorder = await socket_for(user)
    received_before = len(comfy.double.prompts_received)
    turn = await send_chat(api, user, recorder, "a fox --steps 2", model=MODEL)
    await recorder.wait_done(turn[1])
    answer = (await saved_message(api, user, turn))["content"]
    assert answer.startswith("⚠️ Vanishing cannot run") and CHECKPOINT in answer, answer
    assert len(comfy.double.prompts_received) == received_before

    vanishing.append(CHECKPOINT)  # the fetcher finished: the next message runs
    turn = await send_chat(api, user, recorder, "a fox --steps 2", model=MODEL)
    await recorder.wait_done(turn[1])
    assert (await saved_message(api, user, turn))["content"].startswith("Done in")
    model = await chat_model(api, user, MODEL)
    assert model["name"] == "ComfyUI · Vanishing" and CHECKPOINT not in json.dumps(model["info"])
