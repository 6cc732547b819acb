"""The real ``comfyui-pipe serve`` command, as an operator starts it."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from comfyui_pipe.openwebui.function_source import FUNCTION_ID, PLUGINS, PluginKind
from openwebui.harness import ThreadedDouble, free_port, open_webui_environment

STARTUP_TIMEOUT = 150.0
SHUTDOWN_TIMEOUT = 30.0


@dataclass(frozen=True)
class Served:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"comfyui-pipe serve exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)  # polling a separate process: there is no event to await
    raise AssertionError(f"comfyui-pipe serve did not answer within {STARTUP_TIMEOUT} s")


@contextmanager
def serving(comfy: ThreadedDouble, workdir: Path, **variables: str) -> Iterator[Served]:
    """``comfyui-pipe serve`` on ``workdir``'s data directory (kept between runs)."""
    data_dir = workdir / "data"
    environment = {
        **os.environ,
        **open_webui_environment(data_dir),
        "COMFYUI_URL": comfy.url,
        **variables,
    }
    environment.pop("WEBUI_SECRET_KEY")
    port = free_port()
    command = Path(sys.executable).with_name("comfyui-pipe")
    log = (workdir / "serve.log").open("ab")
    process = subprocess.Popen(
        [str(command), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield Served(url, data_dir, process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(SHUTDOWN_TIMEOUT)
        log.close()


@pytest.fixture
def served(comfy: ThreadedDouble, tmp_path: Path) -> Iterator[Served]:
    with serving(comfy, tmp_path) as served:
        yield served


def sign_up_admin(http: httpx.Client) -> dict[str, str]:
    signup = {"name": "Ada", "email": "ada@example.com", "password": "Correct-Horse-9"}
    token = http.post("/api/v1/auths/signup", json=signup).json()["token"]
    http.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


def test_serve_runs_open_webui_with_the_plugin(served: Served):
    with httpx.Client(base_url=served.url, timeout=30) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<html" in page.text.lower()
        assert http.get("/api/v1/comfyui/health").status_code == 401

        headers = sign_up_admin(http)

        health = http.get("/api/v1/comfyui/health", headers=headers)
        assert health.status_code == 200
        assert health.headers["content-type"] == "application/json"
        installed = {f["id"]: f for f in http.get("/api/v1/functions/", headers=headers).json()}
        assert installed[FUNCTION_ID]["type"] == "pipe"
        assert installed[FUNCTION_ID]["is_active"] is True

    assert (served.data_dir / ".webui_secret_key").read_text()

    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(SHUTDOWN_TIMEOUT) == 0


OLDER_MODULES = {
    "comfyui": "comfyui_pipe.openwebui.pipe",
    "comfyui_actions": "comfyui_pipe.openwebui.actions",
    "comfyui_tool": "comfyui_pipe.openwebui.tool",
    "comfyui_media": "comfyui_pipe.openwebui.media_filter",
}
"""Where the plugins' classes lived before ``openwebui/`` had sub-packages."""


def store_older_shims(data_dir: Path) -> None:
    """The plugins' rows as an installation of the older layout left them."""
    with sqlite3.connect(data_dir / "webui.db") as database:
        for plugin in PLUGINS:
            older = dataclasses.replace(plugin, module=OLDER_MODULES[plugin.id]).source()
            table = "tool" if plugin.kind is PluginKind.TOOL else "function"
            database.execute(f"UPDATE {table} SET content = ? WHERE id = ?", (older, plugin.id))


def test_an_installation_of_an_older_layout_is_refreshed_before_open_webui_loads_it(
    comfy: ThreadedDouble, tmp_path: Path
):
    # Open WebUI switches off a function whose source no longer imports; with its model
    # cache on it loads the Pipe while starting, before anyone asks for a model.
    cached = {"ENABLE_BASE_MODELS_CACHE": "true"}
    with serving(comfy, tmp_path, **cached) as first, httpx.Client(base_url=first.url) as http:
        headers = sign_up_admin(http)
        first.process.send_signal(signal.SIGINT)
        assert first.process.wait(SHUTDOWN_TIMEOUT) == 0
    store_older_shims(first.data_dir)

    with serving(comfy, tmp_path, **cached) as second, httpx.Client(base_url=second.url) as http:
        installed = {f["id"]: f for f in http.get("/api/v1/functions/", headers=headers).json()}
        contents = {
            plugin.id: http.get(
                f"/api/v1/{'tools' if plugin.kind is PluginKind.TOOL else 'functions'}"
                f"/id/{plugin.id}",
                headers=headers,
            ).json()["content"]
            for plugin in PLUGINS
        }
        models = http.get("/api/models", headers=headers).json()["data"]

    assert contents == {plugin.id: plugin.source() for plugin in PLUGINS}
    assert installed[FUNCTION_ID]["is_active"] is True
    assert "comfyui.sd15_txt2img" in {model["id"] for model in models}
