"""The host platform: the installed function, the app's routes, jobs and files in
Open WebUI's database and storage — all on the real Open WebUI served in-process."""

from __future__ import annotations

import dataclasses
import gc
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.routing import Mount

from comfyui_pipe.comfy.outputs import OutputRef
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.openwebui.app import mount_plugin
from comfyui_pipe.openwebui.function_source import (
    ACTIONS,
    FUNCTION_ID,
    MEDIA_FILTER,
    PIPE,
    function_source,
)
from comfyui_pipe.openwebui.host import HostPlugins
from comfyui_pipe.openwebui.install import Installed, install_function
from comfyui_pipe.openwebui.runtime import get_runtime
from openwebui.harness import Account, OpenWebUIServer

OTHER_FUNCTION = '''"""
title: Someone else's pipe
"""


class Pipe:
    def pipe(self, body):
        return "hello"
'''


def plugins(owui: OpenWebUIServer) -> HostPlugins:
    return owui.run(get_runtime(owui.app)).host.plugins


def functions(http: httpx.Client, admin: Account) -> dict[str, dict]:
    response = http.get("/api/v1/functions/", headers=admin.headers)
    response.raise_for_status()
    return {function["id"]: function for function in response.json()}


def function_detail(http: httpx.Client, admin: Account, function_id: str) -> dict:
    response = http.get(f"/api/v1/functions/id/{function_id}", headers=admin.headers)
    response.raise_for_status()
    return response.json()


def function_valves(http: httpx.Client, admin: Account) -> dict:
    response = http.get(f"/api/v1/functions/id/{FUNCTION_ID}/valves", headers=admin.headers)
    response.raise_for_status()
    return response.json() or {}


def new_record(owner_id: str, **changes: object) -> JobRecord:
    values: dict = {
        "id": str(uuid.uuid4()),
        "owner_id": owner_id,
        "workflow_id": "sd15_txt2img",
        "params": {"prompt": "a lighthouse", "seed": 7, "steps": 20},
        "state": JobState.QUEUED,
        "created_at": time.time(),
    }
    return JobRecord(**{**values, **changes})


@pytest.mark.parametrize(
    ("plugin", "is_global"),
    [(PIPE, False), (ACTIONS, False), (MEDIA_FILTER, True)],
    ids=lambda value: getattr(value, "id", None),
)
def test_each_function_is_installed_once_active_and_current(http, admin, plugin, is_global):
    installed = [f for f in functions(http, admin).values() if f["id"] == plugin.id]

    assert len(installed) == 1
    assert installed[0]["type"] == plugin.kind.value
    assert (installed[0]["is_active"], installed[0]["is_global"]) == (True, is_global)
    assert installed[0]["user_id"] is None  # the system's, not an admin's
    assert function_detail(http, admin, plugin.id)["content"] == plugin.source()


@pytest.fixture
def other_function(http: httpx.Client, admin: Account) -> Iterator[dict]:
    form = {
        "id": "someone_elses_pipe",
        "name": "Someone else's pipe",
        "content": OTHER_FUNCTION,
        "meta": {"description": "not ours"},
    }
    http.post("/api/v1/functions/create", headers=admin.headers, json=form).raise_for_status()
    yield function_detail(http, admin, form["id"])
    http.delete(f"/api/v1/functions/id/{form['id']}/delete", headers=admin.headers)


@pytest.fixture
def admin_choices(http: httpx.Client, admin: Account, owui: OpenWebUIServer) -> Iterator[dict]:
    """The admin changes a valve and switches the function off; all restored afterwards."""
    before = function_valves(http, admin)
    chosen = {**before, "max_steps": 33}
    http.post(
        f"/api/v1/functions/id/{FUNCTION_ID}/valves/update", headers=admin.headers, json=chosen
    ).raise_for_status()
    http.post(f"/api/v1/functions/id/{FUNCTION_ID}/toggle", headers=admin.headers)
    yield chosen
    owui.run(install_function(owui.app.state, plugins(owui)))
    if not function_detail(http, admin, FUNCTION_ID)["is_active"]:
        http.post(f"/api/v1/functions/id/{FUNCTION_ID}/toggle", headers=admin.headers)
    http.post(
        f"/api/v1/functions/id/{FUNCTION_ID}/valves/update", headers=admin.headers, json=before
    )


def test_an_upgrade_replaces_the_source_and_keeps_the_admins_choices(
    http, admin, owui, admin_choices, other_function
):
    upgraded = function_source(version="99.0.0")

    outcome = owui.run(install_function(owui.app.state, plugins(owui), content=upgraded))

    assert outcome is Installed.UPDATED
    ours = function_detail(http, admin, FUNCTION_ID)
    assert ours["content"] == upgraded
    assert ours["meta"]["manifest"]["version"] == "99.0.0"
    assert ours["is_active"] is False
    assert function_valves(http, admin)["max_steps"] == 33
    assert function_detail(http, admin, other_function["id"]) == other_function


def test_installing_the_current_source_again_changes_nothing(http, admin, owui):
    before = function_detail(http, admin, FUNCTION_ID)

    outcome = owui.run(install_function(owui.app.state, plugins(owui)))

    assert outcome is Installed.UNCHANGED
    assert function_detail(http, admin, FUNCTION_ID) == before


def test_the_jobs_table_round_trips_a_job(owui):
    # owners of their own: other tests' jobs share this database (and its queue: a job
    # left unfinished would be adopted by the app and wait there for good)
    owner, someone_else = str(uuid.uuid4()), str(uuid.uuid4())
    jobs = owui.run(get_runtime(owui.app)).jobs
    first = new_record(owner, chat_id="chat-1", message_id="message-1")
    ended = {"state": JobState.CANCELLED, "finished_at": first.created_at + 2}
    second = new_record(owner, created_at=first.created_at + 1, **ended)
    someone_elses = new_record(someone_else, **ended)
    for record in (first, second, someone_elses):
        owui.run(jobs.create(record))

    first = dataclasses.replace(
        first,
        state=JobState.COMPLETED,
        backend="http://comfy:8188",
        prompt_id="a-prompt",
        started_at=first.created_at + 0.5,
        finished_at=first.created_at + 3.25,
        output_file_ids=["file-1", "file-2"],
        progress={"percent": 100, "description": "Done in 2.8 s"},
    )
    owui.run(jobs.update(first))

    assert owui.run(jobs.get(first.id)) == first
    assert owui.run(jobs.get("no-such-job")) is None
    page, total = owui.run(jobs.list(owner, limit=1, offset=0))
    assert (page, total) == ([second], 2)
    page, _ = owui.run(jobs.list(owner, limit=10, offset=1))
    assert page == [first]
    everyone, everyone_total = owui.run(jobs.list(None, limit=100, offset=0))
    assert everyone_total >= 3
    assert {first.id, second.id, someone_elses.id} <= {job.id for job in everyone}


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_stored_output_is_the_owners_file_and_hidden_from_others(http, owui, user, other_user):
    data = bytes(range(256)) * 1000
    output = OutputRef(
        filename="ComfyUI_00001_.png",
        subfolder="",
        type="output",
        kind="image",
        node_id="9",
        content_type="image/png",
    )
    metadata = {"workflow": "sd15_txt2img", "seed": 7, "steps": 20, "prompt": "a lighthouse"}
    record = new_record(user.id)

    stored = owui.run(
        owui.run(get_runtime(owui.app)).sink.save(
            record, output, chunks_of(data, 4096), metadata, file_id=str(uuid.uuid4())
        )
    )

    assert stored.url == f"/api/v1/files/{stored.id}/content"
    assert (stored.name, stored.content_type, stored.size) == (
        "ComfyUI_00001_.png",
        "image/png",
        len(data),
    )
    content = http.get(stored.url, headers=user.headers)
    assert content.status_code == 200
    assert content.content == data
    assert content.headers["content-type"] == "image/png"
    described = http.get(f"/api/v1/files/{stored.id}", headers=user.headers).json()
    assert described["meta"]["comfyui"] == {**metadata, "job_id": record.id}
    assert http.get(stored.url, headers=other_user.headers).status_code == 404


def test_the_frontend_mount_is_last_and_does_not_shadow_our_routes(http, owui, user):
    routes = owui.app.router.routes
    mount_plugin(owui.app)

    assert owui.app.router.routes == routes
    assert isinstance(routes[-1], Mount) and routes[-1].path == ""
    assert http.get("/").headers["content-type"].startswith("text/html")
    anonymous = http.get("/api/v1/comfyui/health")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/json"
    assert (
        http.get("/api/v1/comfyui/health", headers=user.headers).headers["content-type"]
        == "application/json"
    )


def test_startup_takes_open_webuis_long_lived_heap_out_of_garbage_collection(owui):
    # Full collections walked Open WebUI's millions of startup objects: 0.1-0.6 s pauses
    # that held up every progress event under load (bench/README.md).
    assert gc.get_freeze_count() > 100_000
