"""A fresh start of ``comfyui-pipe serve``: the environment's values are the settings in
use (none stored: no admin saved any), and the chat models are published before anyone
can use them — a user the first admin adds right after signing up uses the default
workflow's model in their very first request. Nothing here waits: our app publishes the
models before it serves the first request made once the admin exists (the admin's own
request adding the user), so the order of the requests alone decides. At the next
start, a changed environment applies to every setting no admin saved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from durability.hosts import Host, add_user, sign_up

from comfyui_pipe.config import PipeConfig
from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from openwebui.harness import PASSWORD, ThreadedDouble

MODEL = "comfyui.sd15_txt2img"


@pytest.fixture
def fresh_host(comfy: ThreadedDouble, tmp_path: Path) -> Iterator[Host]:
    host = Host("fresh", comfy.url, tmp_path, {"COMFYUI_MAX_STEPS": "33"})
    try:
        host.start()
        yield host
    finally:
        host.stop()


def test_a_user_added_right_after_the_first_admin_uses_the_models_at_once(
    fresh_host: Host, comfy: ThreadedDouble
) -> None:
    with httpx.Client(base_url=fresh_host.url, timeout=60) as http:
        admin = sign_up(http)
        user = add_user(http, admin, "Uma", "uma@example.com")
        message = {"role": "user", "content": "a lighthouse --steps 1"}
        reply = http.post(
            "/api/chat/completions",
            headers=user,
            json={"model": MODEL, "stream": False, "messages": [message]},
        )
        models = http.get("/api/models", headers=user).json()["data"]
        stored = http.get(f"/api/v1/functions/id/{FUNCTION_ID}/valves", headers=admin).json()
        in_use = http.get("/api/v1/comfyui/settings", headers=admin).json()

    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"].startswith("Done")
    assert MODEL in {model["id"] for model in models}
    assert not stored
    assert in_use == PipeConfig(comfyui_url=comfy.url, max_steps=33).stored_values()


def test_a_changed_environment_applies_at_the_next_start_except_what_an_admin_saved(
    fresh_host: Host,
) -> None:
    with httpx.Client(base_url=fresh_host.url, timeout=60) as http:
        admin = sign_up(http)
        saved = http.put("/api/v1/comfyui/settings", headers=admin, json={"max_count": 3})
        assert saved.status_code == 200, saved.text
    fresh_host.stop()
    fresh_host.environment.update(
        {"COMFYUI_URL": "http://127.0.0.1:9,http://127.0.0.2:9", "COMFYUI_MAX_COUNT": "5"}
    )
    fresh_host.start()

    with httpx.Client(base_url=fresh_host.url, timeout=60) as http:
        admin = http.post(
            "/api/v1/auths/signin", json={"email": "ada@example.com", "password": PASSWORD}
        ).json()
        in_use = http.get(
            "/api/v1/comfyui/settings", headers={"Authorization": f"Bearer {admin['token']}"}
        ).json()

    assert in_use["comfyui_url"] == "http://127.0.0.1:9,http://127.0.0.2:9"
    assert in_use["max_steps"] == 33
    assert in_use["max_count"] == 3
