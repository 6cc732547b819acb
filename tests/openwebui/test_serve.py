"""The real ``comfyui-pipe serve`` command, as an operator starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from comfyui_pipe.openwebui.function_source import FUNCTION_ID
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


@pytest.fixture
def served(comfy: ThreadedDouble, tmp_path: Path) -> Iterator[Served]:
    data_dir = tmp_path / "data"
    environment = {**os.environ, **open_webui_environment(data_dir), "COMFYUI_URL": comfy.url}
    environment.pop("WEBUI_SECRET_KEY")
    port = free_port()
    command = Path(sys.executable).with_name("comfyui-pipe")
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(command), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        cwd=tmp_path,
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


def test_serve_runs_open_webui_with_the_plugin(served: Served):
    with httpx.Client(base_url=served.url, timeout=30) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<html" in page.text.lower()
        assert http.get("/api/v1/comfyui/health").status_code == 401

        signup = {"name": "Ada", "email": "ada@example.com", "password": "Correct-Horse-9"}
        token = http.post("/api/v1/auths/signup", json=signup).json()["token"]
        http.cookies.clear()
        headers = {"Authorization": f"Bearer {token}"}

        health = http.get("/api/v1/comfyui/health", headers=headers)
        assert health.status_code == 200
        assert health.headers["content-type"] == "application/json"
        installed = {f["id"]: f for f in http.get("/api/v1/functions/", headers=headers).json()}
        assert installed[FUNCTION_ID]["type"] == "pipe"
        assert installed[FUNCTION_ID]["is_active"] is True

    assert (served.data_dir / ".webui_secret_key").read_text()

    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(SHUTDOWN_TIMEOUT) == 0
