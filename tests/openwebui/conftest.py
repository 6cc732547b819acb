"""Session-wide fixtures: the real Open WebUI app with the plugin, served over HTTP,
against a ComfyUI double, with an admin and two users signed up through Open WebUI."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
import pytest
from comfyui_real import RealComfyUI
from default_models import DEFAULT_MODELS

from openwebui.harness import (
    Account,
    OpenWebUIServer,
    ThreadedDouble,
    add_user,
    environment_applied,
    restore_environment,
    sign_up,
    valves_changed,
    wait_for_published_models,
)
from openwebui.scripted_connection import scripted  # noqa: F401 (the Tool tests' model)


@pytest.fixture(scope="session")
def comfy_session() -> Iterator[ThreadedDouble]:
    """The double as ComfyUI 0.33, the release the compose stack pins (the recorded 0.8
    server had no audio nodes: its ``object_info`` lists no SaveAudio)."""
    with ThreadedDouble(models=DEFAULT_MODELS, version="0.33") as double:
        yield double


@pytest.fixture
def comfy(comfy_session: ThreadedDouble) -> Iterator[ThreadedDouble]:
    """The session's ComfyUI double; fault knobs a test sets end with the test."""
    yield comfy_session
    comfy_session.reset_faults()


@pytest.fixture(scope="session")
def owui(comfy_session: ThreadedDouble) -> Iterator[OpenWebUIServer]:
    previous = environment_applied({"COMFYUI_URL": comfy_session.url})
    try:
        with OpenWebUIServer() as server:
            yield server
    finally:
        restore_environment(previous)


@pytest.fixture(scope="session")
def http(owui: OpenWebUIServer) -> Iterator[httpx.Client]:
    """Keeps no cookies (signing in sets one): a request is anonymous unless it sends an
    account's ``headers``."""
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    with httpx.Client(base_url=owui.url, timeout=30, cookies=no_cookies) as client:
        yield client


@pytest.fixture(scope="session")
def admin(http: httpx.Client) -> Account:
    return sign_up(http, "Ada Admin", "admin@example.com")


@pytest.fixture(scope="session")
def user(http: httpx.Client, admin: Account) -> Account:
    account = add_user(http, admin, "Uma User", "user@example.com")
    wait_for_published_models(http, account)
    return account


@pytest.fixture(scope="session")
def other_user(http: httpx.Client, admin: Account) -> Account:
    return add_user(http, admin, "Otto Other", "other@example.com")


REAL_IDLE_TIMEOUT = 120.0


@pytest.fixture
def real_backend(
    real_comfyui: RealComfyUI, http: httpx.Client, admin: Account
) -> Iterator[RealComfyUI]:
    """The plugin on the session's real ComfyUI for one test (the admin's saved URL), then
    back on the double. A test must leave the real server idle: whatever it left running
    is cleared and the test fails."""
    with valves_changed(http, admin, comfyui_url=real_comfyui.url):
        yield real_comfyui
    try:
        real_comfyui.wait_idle(REAL_IDLE_TIMEOUT)
    except TimeoutError:
        real_comfyui.clear()
        raise
