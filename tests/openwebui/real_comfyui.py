"""What the tests against the real ComfyUI share: a small SD 1.5 model, finding our
prompts on the server, and another client keeping the server busy."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from comfyui_real import RealComfyUI

from comfyui_pipe.workflow import bundled_workflows
from openwebui.harness import Account, wait_for_published_models
from openwebui.test_api_admin import API

SMALL_SD15 = "real_sd15_small"
REAL_TIMEOUT = 180.0
"""Seconds a real CPU generation may take: loading the checkpoint alone is 5-40 s on
two busy cores, a 64² step 1-7 s."""


def sd15_graph(prompt: str = "a lighthouse", steps: int = 3, seed: int = 1) -> dict[str, Any]:
    """The bundled SD 1.5 graph at 64×64."""
    graph = copy.deepcopy(dict(bundled_workflows()["sd15_txt2img"].graph))
    graph["6"]["inputs"]["text"] = prompt
    graph["5"]["inputs"].update(width=64, height=64)
    graph["3"]["inputs"].update(steps=steps, seed=seed)
    return graph


@contextmanager
def small_sd15_model(http: httpx.Client, admin: Account, user: Account) -> Iterator[str]:
    """The bundled SD 1.5 graph as an uploaded chat model allowed down to 64×64 (the
    bundled one starts at 256², ~10 s a step on these CPUs); yields its model id."""
    upload = {
        "id": SMALL_SD15,
        "workflow": sd15_graph(),
        "meta": {
            "title": "SD 1.5 small",
            "defaults": {"width": 64, "height": 64, "steps": 3},
            "bounds": {"width": {"min": 64, "max": 128}, "height": {"min": 64, "max": 128}},
        },
    }
    created = http.post(f"{API}/workflows", headers=admin.headers, json=upload)
    assert created.status_code == 201, created.text
    model = f"comfyui.{SMALL_SD15}"
    try:
        wait_for_published_models(http, user, model_id=model)
        yield model
    finally:
        http.delete(f"{API}/workflows/{SMALL_SD15}", headers=admin.headers)


def prompt_ids_with_text(comfyui: RealComfyUI, where: str, text: str) -> list[str]:
    """The ids of the prompts in ComfyUI's ``queue_running``, ``queue_pending`` or
    ``history`` whose graph has a node input equal to ``text``."""
    if where == "history":
        entries = [entry["prompt"] for entry in comfyui.get("/history").values()]
    else:
        entries = comfyui.get("/queue")[where]
    return [entry[1] for entry in entries if _mentions(entry[2], text)]


def _mentions(graph: dict[str, Any], text: str) -> bool:
    return any(text in node["inputs"].values() for node in graph.values())


def wait_until(found: Any, what: str, timeout: float = REAL_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        assert time.monotonic() < deadline, f"never happened within {timeout} s: {what}"
        time.sleep(0.1)
    return value


@asynccontextmanager
async def busy_with_another_client(comfyui: RealComfyUI) -> AsyncIterator[str]:
    """Another client's long prompt running on the server (as when ComfyUI is shared);
    cancelled at the end. Yields its prompt id."""
    text = f"another client's job {uuid.uuid4()}"
    graph = sd15_graph(text, steps=200)
    prompt_id = (await asyncio.to_thread(comfyui.post, "/prompt", {"prompt": graph}))["prompt_id"]
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: prompt_ids_with_text(comfyui, "queue_running", text),
            "the other client's job running",
        )
        yield prompt_id
    finally:
        await asyncio.to_thread(comfyui.post, f"/api/jobs/{prompt_id}/cancel", {})
        await asyncio.to_thread(comfyui.wait_idle, REAL_TIMEOUT)
