"""The real Open WebUI app, served over HTTP in-process, and a threaded ComfyUI double.

Open WebUI reads its configuration from the environment when it is first
imported, and importing it takes tens of seconds, so one ``OpenWebUIServer``
serves a whole test session. Both servers run in their own threads with their
own event loops, so a test (sync or async) talks to them over real sockets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from comfyui_double import ComfyDouble

T = TypeVar("T")

STARTUP_TIMEOUT = 120.0
CALL_TIMEOUT = 30.0
PASSWORD = "Correct-Horse-9"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def open_webui_environment(data_dir: Path) -> dict[str, str]:
    """What Open WebUI must find in the environment before it is imported."""
    static_dir = data_dir / "static"
    static_dir.mkdir(parents=True, exist_ok=True)
    return {
        "DATA_DIR": str(data_dir),
        "STATIC_DIR": str(static_dir),
        "FROM_INIT_PY": "true",
        "OFFLINE_MODE": "true",
        "RAG_EMBEDDING_ENGINE": "openai",
        "ENABLE_OLLAMA_API": "false",
        "ENABLE_OPENAI_API": "false",
        "ENABLE_VERSION_UPDATE_CHECK": "false",
        # API keys for the images API's clients; the user Open WebUI's image feature
        # calls for, in the headers it sends our images API
        "ENABLE_API_KEYS": "true",
        "USER_PERMISSIONS_FEATURES_API_KEYS": "true",
        "ENABLE_FORWARD_USER_INFO_HEADERS": "true",
    }


class ThreadedDouble:
    """A ComfyDouble living in its own thread and event loop.

    ``run(coro)`` runs one of its coroutines there (e.g.
    ``comfy.run(comfy.double.wait_idle())``) and returns the result.
    """

    def __init__(self, **double_options: Any) -> None:
        self._double_options = double_options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="comfy-double")
        self.double: ComfyDouble

    def __enter__(self) -> ThreadedDouble:
        self._thread.start()
        self.double = self.run(self._start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.run(self.double.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CALL_TIMEOUT)
        self._loop.close()

    async def _start(self) -> ComfyDouble:
        return await ComfyDouble(**self._double_options).__aenter__()

    @property
    def url(self) -> str:
        return self.double.url

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def reset_faults(self) -> None:
        """Every fault knob back to its default, in place (the double keeps its object)."""
        faults = self.double.faults
        pristine = type(faults)()
        for knob in dataclasses.fields(faults):
            if not knob.name.startswith("_"):
                setattr(faults, knob.name, getattr(pristine, knob.name))


class OpenWebUIServer:
    """Our ASGI app (Open WebUI + plugin) served by uvicorn in a background thread.

    The environment must already be set (see ``open_webui_environment``): the
    app is imported on ``__enter__``.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._loop = asyncio.new_event_loop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def app(self) -> Any:
        from comfyui_pipe.openwebui.app import app

        return app

    def __enter__(self) -> OpenWebUIServer:
        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="open-webui")
        self._thread.start()
        self._wait_started()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=CALL_TIMEOUT)
        self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coro`` on the server's event loop, where Open WebUI's database engine and
        the plugin runtime live (e.g. ``owui.run(get_runtime(owui.app))``)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _serve(self) -> None:
        assert self._server is not None
        try:
            self._loop.run_until_complete(self._server.serve())
        except BaseException as error:  # reported by _wait_started
            self._failure = error
        finally:
            # Open WebUI cancels its background tasks without awaiting them.
            self._loop.run_until_complete(_cancel_remaining_tasks())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())

    def _wait_started(self) -> None:
        assert self._server is not None and self._thread is not None
        deadline = threading.Event()
        timer = threading.Timer(STARTUP_TIMEOUT, deadline.set)
        timer.start()
        try:
            while not self._server.started:
                if not self._thread.is_alive() or deadline.is_set():
                    raise RuntimeError(
                        f"Open WebUI did not start within {STARTUP_TIMEOUT} s"
                    ) from self._failure
                self._thread.join(timeout=0.1)
        finally:
            timer.cancel()


async def _cancel_remaining_tasks() -> None:
    current = asyncio.current_task()
    remaining = [task for task in asyncio.all_tasks() if task is not current]
    for task in remaining:
        task.cancel()
    await asyncio.wait_for(asyncio.gather(*remaining, return_exceptions=True), CALL_TIMEOUT)


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    name: str
    token: str
    role: str
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_auth(cls, body: dict[str, Any]) -> Account:
        token = body["token"]
        return cls(
            id=body["id"],
            email=body["email"],
            name=body["name"],
            token=token,
            role=body["role"],
            headers={"Authorization": f"Bearer {token}"},
        )


def sign_up(http: httpx.Client, name: str, email: str) -> Account:
    """Open WebUI's own signup: the first account becomes the admin."""
    response = http.post(
        "/api/v1/auths/signup", json={"name": name, "email": email, "password": PASSWORD}
    )
    response.raise_for_status()
    return Account.from_auth(response.json())


def add_user(http: httpx.Client, admin: Account, name: str, email: str) -> Account:
    """A user created by the admin through Open WebUI's admin route."""
    response = http.post(
        "/api/v1/auths/add",
        headers=admin.headers,
        json={"name": name, "email": email, "password": PASSWORD, "role": "user"},
    )
    response.raise_for_status()
    return Account.from_auth(response.json())


def wait_for_published_models(
    http: httpx.Client, account: Account, timeout: float = 10, model_id: str = "comfyui."
) -> None:
    """The plugin publishes its models once the first admin exists (within a second), and
    an uploaded workflow's model once it is uploaded: until ``account`` is offered a model
    whose id starts with ``model_id``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = http.get("/api/models", headers=account.headers)
        response.raise_for_status()
        if any(model["id"].startswith(model_id) for model in response.json()["data"]):
            return
        time.sleep(0.1)
    raise AssertionError(f"no model {model_id}… was ever published to {account.email}")


VALVES_PATH = "/api/v1/functions/id/comfyui/valves"


@contextmanager
def valves_changed(http: httpx.Client, admin: Account, **changes: Any) -> Iterator[None]:
    """The admin saves ``changes`` in the plugin's settings, and the previous ones after."""
    saved = http.get(VALVES_PATH, headers=admin.headers).json() or {}
    updated = http.post(f"{VALVES_PATH}/update", headers=admin.headers, json={**saved, **changes})
    updated.raise_for_status()
    try:
        yield
    finally:
        http.post(f"{VALVES_PATH}/update", headers=admin.headers, json=saved).raise_for_status()


def environment_applied(values: dict[str, str]) -> dict[str, str | None]:
    """Set ``values`` in ``os.environ``; returns the previous values to restore."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    return previous


def restore_environment(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
