"""The settings in use are kept by each process and read from the database only when an
admin saved them: not per chat turn, not per request. A save through our route or
through Open WebUI's own valves route is seen by the next request, one made by another
process within seconds; stored settings our model refuses are never applied. Only a
change of servers opens new sockets to ComfyUI."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from default_models import DEFAULT_MODELS
from open_webui.internal.db import async_engine
from open_webui.models.functions import Functions
from sqlalchemy import event

from comfyui_pipe.openwebui.config_store import SETTLE_SECONDS, WATCH_INTERVAL
from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from comfyui_pipe.openwebui.runtime import PluginRuntime, get_runtime
from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.settings_checks import (
    VALVES,
    assert_every_route_works,
    served_settings,
    stored_valves,
)
from openwebui.test_api_jobs import API, finished, generate, started
from openwebui.test_input_rules import chat_reply

MODEL = "comfyui.sd15_txt2img"
Statement = tuple[str, Any]


@pytest.fixture
def runtime(owui: OpenWebUIServer) -> PluginRuntime:
    return owui.run(get_runtime(owui.app))


@pytest.fixture
def settings_restored(http: httpx.Client, admin: Account) -> Iterator[dict[str, Any]]:
    before = served_settings(http, admin)
    yield before
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


@pytest.fixture
def statements(owui: OpenWebUIServer) -> Iterator[list[Statement]]:
    """Every SQL statement run on Open WebUI's database while the test runs."""
    seen: list[Statement] = []

    def record(connection: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(async_engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(async_engine.sync_engine, "before_cursor_execute", record)


def reads_settings(statement: str, parameters: Any) -> bool:
    """A SELECT of the plugin's valves. Open WebUI's look at the whole function row (its
    source, for its module cache, on every chat turn) is not a read of the settings: the
    columns selected with the valves there include the source."""
    selected = statement.upper().split(" FROM ", 1)[0]
    return (
        selected.lstrip().startswith("SELECT")
        and "FUNCTION.VALVES" in selected
        and "FUNCTION.CONTENT" not in selected
        and FUNCTION_ID in (parameters or ())
    )


def settings_reads(statements: list[Statement]) -> int:
    return sum(reads_settings(statement, parameters) for statement, parameters in statements)


def looks_at_changes(statements: list[Statement]) -> int:
    return sum("SELECT FUNCTION.UPDATED_AT" in s.upper() for s, _ in statements)


def settle(owui: OpenWebUIServer, runtime: PluginRuntime) -> None:
    """Let the config watch finish with earlier saves: whole-second stamps keep it reading
    for ``SETTLE_SECONDS`` after one."""
    changed_at = owui.run(Functions.get_function_by_id(FUNCTION_ID)).updated_at
    time.sleep(max(0.0, changed_at + SETTLE_SECONDS - time.time()) + 0.1)
    owui.run(runtime.watch.check())


def refused_steps(http: httpx.Client, user: Account, steps: int) -> str:
    response = generate(http, user, prompt="a lighthouse", steps=steps)
    assert response.status_code in (400, 422), response.text
    return response.json()["detail"]


def test_requests_and_chat_turns_read_no_settings_until_an_admin_saves(
    http: httpx.Client,
    admin: Account,
    user: Account,
    owui: OpenWebUIServer,
    runtime: PluginRuntime,
    statements: list[Statement],
    settings_restored: dict[str, Any],
) -> None:
    settle(owui, runtime)
    statements.clear()
    started_at = time.monotonic()

    for _ in range(20):
        job = started(http, user, prompt="a lighthouse", steps=1)
        assert finished(http, user, job["id"])["state"] == "completed"
    for _ in range(5):
        assert chat_reply(http, user, "a lighthouse --steps 1", MODEL).startswith("Done")

    assert settings_reads(statements) == 0
    looks = looks_at_changes(statements)
    assert looks <= (time.monotonic() - started_at) / WATCH_INTERVAL + 1  # never per request

    saved = http.put(f"{API}/settings", headers=admin.headers, json={"max_steps": 5})
    assert saved.status_code == 200, saved.text
    assert "maximum 5" in refused_steps(http, user, 6)

    form = {**stored_valves(http, admin), "max_steps": 7}
    assert http.post(f"{VALVES}/update", headers=admin.headers, json=form).status_code == 200
    assert finished(http, user, started(http, user, prompt="x", steps=6)["id"])["state"] == (
        "completed"
    )
    assert "maximum 7" in refused_steps(http, user, 8)
    assert settings_reads(statements) >= 2  # the saves were read


def test_a_new_job_timeout_keeps_the_sockets_and_a_new_server_list_rebuilds_the_pool(
    http: httpx.Client,
    admin: Account,
    user: Account,
    comfy: ThreadedDouble,
    runtime: PluginRuntime,
    settings_restored: dict[str, Any],
) -> None:
    assert finished(http, user, started(http, user, prompt="x", steps=1)["id"])["state"] == (
        "completed"
    )
    pool, sockets = runtime.service.pool, comfy.double.ws_connections

    changed = http.put(f"{API}/settings", headers=admin.headers, json={"job_timeout": 600})
    job = started(http, user, prompt="x", steps=1)

    assert changed.status_code == 200, changed.text
    assert finished(http, user, job["id"])["state"] == "completed"
    assert runtime.service.policy.job_timeout == 600
    assert runtime.service.pool is pool
    assert comfy.double.ws_connections == sockets

    with ThreadedDouble(models=DEFAULT_MODELS, version="0.33") as second:
        try:
            moved = http.put(
                f"{API}/settings", headers=admin.headers, json={"comfyui_url": second.url}
            )
            job = started(http, user, prompt="x", steps=1)

            assert moved.status_code == 200, moved.text
            assert finished(http, user, job["id"])["state"] == "completed"
            assert runtime.service.pool is not pool
            assert len(second.double.prompts_received) == 1
            assert second.double.ws_connections == 1
        finally:
            back = {"comfyui_url": settings_restored["comfyui_url"]}
            http.put(f"{API}/settings", headers=admin.headers, json=back).raise_for_status()


def test_a_save_by_another_process_is_seen_within_seconds(
    http: httpx.Client,
    admin: Account,
    owui: OpenWebUIServer,
    settings_restored: dict[str, Any],
) -> None:
    # what a replica's PUT /settings or admin form does to the shared database
    written = owui.run(
        Functions.update_function_valves_by_id(FUNCTION_ID, {**settings_restored, "max_steps": 9})
    )
    assert written is not None

    deadline = time.monotonic() + WATCH_INTERVAL + SETTLE_SECONDS + 3
    while served_settings(http, admin)["max_steps"] != 9:
        assert time.monotonic() < deadline, "the saved settings were never applied"
        time.sleep(0.1)


def test_stored_settings_our_model_refuses_leave_the_ones_in_use(
    http: httpx.Client,
    admin: Account,
    user: Account,
    owui: OpenWebUIServer,
    runtime: PluginRuntime,
    settings_restored: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = {**settings_restored, "comfyui_url": "", "job_timeout": 1e300}

    with caplog.at_level(logging.ERROR, logger="comfyui_pipe.openwebui.runtime"):
        owui.run(Functions.update_function_valves_by_id(FUNCTION_ID, broken))
        owui.run(runtime.watch.check())

    assert served_settings(http, admin) == settings_restored
    assert runtime.config.comfyui_url == settings_restored["comfyui_url"]
    said = " ".join(record.getMessage() for record in caplog.records)
    assert "The stored ComfyUI settings are not valid; the settings in use stay." in said
    assert "comfyui_url is not valid" in said and "job_timeout is not valid" in said
    assert_every_route_works(http, admin, user)
