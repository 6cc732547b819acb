"""``comfyui-pipe serve`` processes for the durability tests, and what a user does with
them over HTTP."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from openwebui.harness import free_port, open_webui_environment

STARTUP_TIMEOUT = 150.0
MODEL = "comfyui.sd15_txt2img"
PASSWORD = "Correct-Horse-9"


class Host:
    """One ``comfyui-pipe serve`` process at a time, on ``data_dir`` (hosts given the same
    data directory and database share them, like replicas on a shared volume)."""

    def __init__(
        self, name: str, comfy_url: str, root: Path, environment: Mapping[str, str] = {}
    ) -> None:
        self.name = name
        self.root = root
        self.data_dir = root / "data"
        self.environment = {
            **os.environ,
            **open_webui_environment(self.data_dir),
            "COMFYUI_URL": comfy_url,
            "PYTHONUNBUFFERED": "1",  # what it logged while dying by a signal is kept
            **environment,
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.root / f"serve-{self.name}-{self.starts}.log").open("wb")
        command = Path(sys.executable).with_name("comfyui-pipe")
        self.process = subprocess.Popen(
            [str(command), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.environment,
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self._up, STARTUP_TIMEOUT, f"comfyui-pipe serve ({self.name}) did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def terminate(self, timeout: float) -> float:
        """SIGTERM, as ``docker stop`` or systemd stop it: the seconds it took to exit
        (AssertionError, and killed, when it had not within ``timeout``)."""
        assert self.process is not None
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"serve ({self.name}) still ran {timeout} s after SIGTERM"
            ) from None
        return time.monotonic() - sent

    def stop(self) -> None:
        """Kill it if it still runs (a fixture's last word)."""
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def logs(self) -> str:
        """What every start of it wrote."""
        return "".join(
            (self.root / f"serve-{self.name}-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
        )

    def _up(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, f"serve exited with {self.process.returncode}"
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


@contextmanager
def running_pair(
    comfy_url: str, root: Path, environment: Mapping[str, str] = {}
) -> Iterator[tuple[Host, Host]]:
    """Two serve processes on one data directory (and ``environment``: a database of
    their own, say), both on ``comfy_url``; killed at the end if they still run."""
    shared = {"WEBUI_SECRET_KEY": secrets.token_urlsafe(24), **environment}
    pair = (Host("a", comfy_url, root, shared), Host("b", comfy_url, root, shared))
    try:
        for host in pair:  # one after the other: the first one creates the database
            host.start()
        yield pair
    finally:
        for host in pair:
            host.stop()


def wait_until(found: Callable[[], Any], timeout: float, failure: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.25)  # another process: there is no event to await
    raise AssertionError(failure)


def sign_up(http: httpx.Client, name: str = "Ada", email: str = "ada@example.com") -> dict:
    """The first account (the admin); its authorization headers."""
    body = {"name": name, "email": email, "password": PASSWORD}
    response = http.post("/api/v1/auths/signup", json=body)
    response.raise_for_status()
    http.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def add_user(http: httpx.Client, admin: dict, name: str, email: str) -> dict:
    body = {"name": name, "email": email, "password": PASSWORD, "role": "user"}
    response = http.post("/api/v1/auths/add", headers=admin, json=body)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def change_settings(http: httpx.Client, admin: dict, **values: Any) -> None:
    http.put("/api/v1/comfyui/settings", headers=admin, json=values).raise_for_status()


def start_chat_generation(
    http: httpx.Client, headers: dict[str, str], text: str, model: str = MODEL
) -> tuple[str, str]:
    """A chat message answered by the ComfyUI model, sent as the web UI does; the reply is
    not awaited (the process answering it may be about to die)."""
    chat_id, reply_id, body = chat_turn(http, headers, text, model)
    try:
        http.post("/api/chat/completions", headers=headers, json=body, timeout=3)
    except httpx.ReadTimeout:
        pass  # streaming until the job ends
    return chat_id, reply_id


def stream_chat_generation(
    url: str, headers: dict[str, str], text: str, model: str = MODEL
) -> tuple[str, str, Future[str]]:
    """Like :func:`start_chat_generation`, with the streamed answer read to its end in a
    thread: (chat id, reply message id, the answer's text once it ended)."""
    with httpx.Client(base_url=url, timeout=30) as http:
        chat_id, reply_id, body = chat_turn(http, headers, text, model)

    def answer() -> str:
        with httpx.Client(base_url=url, timeout=600) as streaming:
            response = streaming.post("/api/chat/completions", headers=headers, json=body)
            return response.text

    return chat_id, reply_id, ThreadPoolExecutor(1).submit(answer)


def chat_turn(
    http: httpx.Client, headers: dict[str, str], text: str, model: str
) -> tuple[str, str, dict[str, Any]]:
    """A new chat and the completion request of its first turn, as the web UI sends it
    without a socket: (chat id, reply message id, request body)."""
    created = http.post(
        "/api/v1/chats/new",
        headers=headers,
        json={"chat": {"title": "Test", "models": [model], "history": {"messages": {}}}},
    )
    created.raise_for_status()
    chat_id, user_message_id, reply_id = created.json()["id"], str(uuid.uuid4()), str(uuid.uuid4())
    user_message = {
        "id": user_message_id,
        "role": "user",
        "content": text,
        "parentId": None,
        "childrenIds": [],
        "models": [model],
        "timestamp": int(time.time()),
    }
    body = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
        "chat_id": chat_id,
        "id": reply_id,
        "parent_id": None,
        "user_message": user_message,
    }
    return chat_id, reply_id, body


def only_job(http: httpx.Client, headers: dict[str, str], state: str | None = None) -> Any:
    jobs = http.get("/api/v1/comfyui/jobs", headers=headers).json()["items"]
    if state is None or (jobs and jobs[0]["state"] == state):
        return jobs[0] if jobs else None
    return None


def saved_message(
    http: httpx.Client, headers: dict[str, str], chat_id: str, message_id: str
) -> Any:
    chat = http.get(f"/api/v1/chats/{chat_id}", headers=headers).json()["chat"]
    return chat["history"]["messages"].get(message_id)


def finished_message(
    http: httpx.Client, headers: dict[str, str], chat_id: str, message_id: str
) -> Any:
    """The chat message once it is marked done (None before)."""
    message = saved_message(http, headers, chat_id, message_id)
    return message if message and message.get("done") else None


def file_count(http: httpx.Client, headers: dict[str, str]) -> int:
    """How many files the user has in Open WebUI's Files."""
    response = http.get("/api/v1/files/user/count", headers=headers)
    response.raise_for_status()
    return int(response.json())
