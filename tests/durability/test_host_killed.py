"""``kill -9`` of a ``comfyui-pipe serve`` process in the middle of a chat generation,
then a new one on the same data: the new process adopts the job and finishes the chat
message; a job ComfyUI forgot meanwhile fails with a sentence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from default_models import DEFAULT_MODELS
from openwebui.harness import ThreadedDouble, free_port, open_webui_environment

STARTUP_TIMEOUT = 150.0
JOB_TIMEOUT = 90.0
MODEL = "comfyui.sd15_txt2img"
PASSWORD = "Correct-Horse-9"


class Host:
    """``comfyui-pipe serve`` processes, one at a time, on one data directory."""

    def __init__(self, comfy_url: str, root: Path) -> None:
        self.data_dir = root / "data"
        self.root = root
        self.environment = {
            **os.environ,
            **open_webui_environment(self.data_dir),
            "COMFYUI_URL": comfy_url,
        }
        self.environment.pop("WEBUI_SECRET_KEY", None)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.root / f"serve-{self.starts}.log").open("wb")
        command = Path(sys.executable).with_name("comfyui-pipe")
        self.process = subprocess.Popen(
            [str(command), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.environment,
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(lambda: self._up(), STARTUP_TIMEOUT, "comfyui-pipe serve did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def _up(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, f"serve exited with {self.process.returncode}"
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


def wait_until(found: Callable[[], Any], timeout: float, failure: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.25)  # another process: there is no event to await
    raise AssertionError(failure)


@pytest.fixture
def comfy() -> Iterator[ThreadedDouble]:
    with ThreadedDouble(models=DEFAULT_MODELS, step_seconds=0.15) as double:
        yield double


@pytest.fixture
def host(comfy: ThreadedDouble, tmp_path: Path) -> Iterator[Host]:
    served = Host(comfy.url, tmp_path)
    try:
        yield served
    finally:
        if served.process is not None and served.process.poll() is None:
            served.process.kill()
            served.process.wait(30)


def sign_up(http: httpx.Client) -> dict[str, str]:
    body = {"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
    token = http.post("/api/v1/auths/signup", json=body).json()["token"]
    http.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


def start_chat_generation(
    http: httpx.Client, headers: dict[str, str], text: str
) -> tuple[str, str]:
    """A chat message answered by the ComfyUI model, sent as the web UI does; the reply is
    not awaited (the process answering it is about to die)."""
    created = http.post(
        "/api/v1/chats/new",
        headers=headers,
        json={"chat": {"title": "Test", "models": [MODEL], "history": {"messages": {}}}},
    )
    created.raise_for_status()
    chat_id, user_message_id, reply_id = created.json()["id"], str(uuid.uuid4()), str(uuid.uuid4())
    user_message = {
        "id": user_message_id,
        "role": "user",
        "content": text,
        "parentId": None,
        "childrenIds": [],
        "models": [MODEL],
        "timestamp": int(time.time()),
    }
    body = {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
        "chat_id": chat_id,
        "id": reply_id,
        "parent_id": None,
        "user_message": user_message,
    }
    try:
        http.post("/api/chat/completions", headers=headers, json=body, timeout=3)
    except httpx.ReadTimeout:
        pass  # streaming until the job ends
    return chat_id, reply_id


def only_job(http: httpx.Client, headers: dict[str, str], state: str | None = None) -> Any:
    jobs = http.get("/api/v1/comfyui/jobs", headers=headers).json()["items"]
    if state is None or (jobs and jobs[0]["state"] == state):
        return jobs[0] if jobs else None
    return None


def saved_message(http: httpx.Client, headers: dict[str, str], chat_id: str, message_id: str):
    chat = http.get(f"/api/v1/chats/{chat_id}", headers=headers).json()["chat"]
    return chat["history"]["messages"].get(message_id)


def test_a_job_survives_its_host_being_killed(host: Host, comfy: ThreadedDouble) -> None:
    host.start()
    with httpx.Client(base_url=host.url, timeout=30) as http:
        headers = sign_up(http)
        chat_id, reply_id = start_chat_generation(http, headers, "a lighthouse --steps 40")
        wait_until(lambda: comfy.double.running, 30, "the job never ran on ComfyUI")

        host.kill()
        host.start()

        job = wait_until(
            lambda: only_job(http, headers, "completed"), JOB_TIMEOUT, "never completed"
        )
        (file_id,) = job["output_file_ids"]
        content = http.get(f"/api/v1/files/{file_id}/content", headers=headers)
        assert content.status_code == 200 and content.content[:8] == b"\x89PNG\r\n\x1a\n"
        message = wait_until(
            lambda: (m := saved_message(http, headers, chat_id, reply_id)) and m.get("done") and m,
            30,
            "the chat message was never finished",
        )
        assert [f["id"] for f in message["files"] if f.get("id")] == [file_id]
        assert message["content"].startswith("Done in")
        assert message["statusHistory"][-1]["done"] is True
        assert len(comfy.double.prompts_received) == 1  # adopted, not run again


def test_a_job_comfyui_forgot_while_the_host_was_down_fails_with_a_sentence(
    host: Host, comfy: ThreadedDouble
) -> None:
    host.start()
    with httpx.Client(base_url=host.url, timeout=30) as http:
        headers = sign_up(http)
        chat_id, reply_id = start_chat_generation(http, headers, "a lighthouse --steps 60")
        wait_until(lambda: comfy.double.running, 30, "the job never ran on ComfyUI")

        host.kill()
        comfy.run(comfy.double.restart())
        host.start()

        job = wait_until(lambda: only_job(http, headers, "failed"), JOB_TIMEOUT, "never failed")
        assert job["error"] == "ComfyUI restarted and lost this job."
        message = wait_until(
            lambda: (m := saved_message(http, headers, chat_id, reply_id)) and m.get("done") and m,
            30,
            "the chat message was never finished",
        )
        assert message["content"] == "⚠️ ComfyUI restarted and lost this job."
