"""The servers and the queue, as an admin runs them from the console: add a ComfyUI, drain
one (it finishes its job and takes no new one), remove one while its job runs (the job
finishes), everyone's queue; refusals in sentences that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from default_models import DEFAULT_MODELS

from openwebui.harness import Account, ThreadedDouble
from openwebui.test_api_jobs import API, finished, started, wait_for_job
from openwebui.test_api_jobs import slow_steps as slow_steps  # a fixture


@pytest.fixture
def settings_restored(http: httpx.Client, admin: Account) -> Iterator[dict[str, Any]]:
    before = http.get(f"{API}/settings", headers=admin.headers).json()
    yield before
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


@pytest.fixture
def second_comfy() -> Iterator[ThreadedDouble]:
    """Another ComfyUI, slow enough to act while its job runs."""
    with ThreadedDouble(models=DEFAULT_MODELS, version="0.33", step_seconds=0.25) as double:
        yield double


def servers(http: httpx.Client, admin: Account) -> list[dict[str, Any]]:
    response = http.get(f"{API}/servers", headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["servers"]


def drain(http: httpx.Client, admin: Account, server: dict[str, Any], on: bool) -> httpx.Response:
    return http.put(
        f"{API}/servers/{server['id']}/drain", headers=admin.headers, json={"drained": on}
    )


def test_an_admin_sees_each_server_with_its_state(
    http: httpx.Client, admin: Account, comfy: ThreadedDouble
) -> None:
    [server] = servers(http, admin)

    assert server["url"] == comfy.url
    assert server["name"] == "server 1"
    assert server["reachable"] is True
    assert server["drained"] is False
    assert server["version"]
    assert server["devices"] and "vram_total" in server["devices"][0]


def test_a_drained_server_finishes_its_job_takes_no_new_one_and_is_removed_without_a_restart(
    http: httpx.Client,
    admin: Account,
    user: Account,
    comfy: ThreadedDouble,
    second_comfy: ThreadedDouble,
    settings_restored: dict[str, Any],
) -> None:
    added = http.post(f"{API}/servers", headers=admin.headers, json={"url": second_comfy.url})
    assert added.status_code == 201, added.text
    first, second = servers(http, admin)
    assert second["url"] == second_comfy.url and second["reachable"]

    assert drain(http, admin, first, True).json()["drained"] is True
    job = started(http, user, prompt="on the second server", steps=12)
    wait_for_job(http, user, job["id"], lambda job: job["state"] == "running")
    assert len(second_comfy.double.prompts_received) == 1

    drain(http, admin, first, False).raise_for_status()
    assert drain(http, admin, second, True).json()["jobs"][0]["id"] == job["id"]
    sent_to_first = len(comfy.double.prompts_received)
    other = started(http, user, prompt="not on the drained one", steps=1)
    assert finished(http, user, other["id"])["state"] == "completed"
    assert len(comfy.double.prompts_received) == sent_to_first + 1
    assert len(second_comfy.double.prompts_received) == 1

    removed = http.delete(f"{API}/servers/{second['id']}", headers=admin.headers)
    assert removed.status_code == 204, removed.text
    assert [s["url"] for s in servers(http, admin)] == [comfy.url]
    assert http.get(f"{API}/settings", headers=admin.headers).json()["drained_servers"] == ""
    done = finished(http, user, job["id"])
    assert done["state"] == "completed" and done["output_file_ids"]


def test_server_changes_that_cannot_be_made_are_refused_in_sentences_and_change_nothing(
    http: httpx.Client, admin: Account, comfy: ThreadedDouble, settings_restored: dict[str, Any]
) -> None:
    [only] = servers(http, admin)
    refusals = {
        "not a URL": http.post(f"{API}/servers", headers=admin.headers, json={"url": "comfy"}),
        "ftp": http.post(f"{API}/servers", headers=admin.headers, json={"url": "ftp://a:21"}),
        "twice": http.post(f"{API}/servers", headers=admin.headers, json={"url": comfy.url}),
        "drain the last": drain(http, admin, only, True),
        "remove the last": http.delete(f"{API}/servers/{only['id']}", headers=admin.headers),
        "unknown": http.delete(f"{API}/servers/0123456789ab", headers=admin.headers),
    }

    assert {name: r.status_code for name, r in refusals.items()} == {
        "not a URL": 400,
        "ftp": 400,
        "twice": 409,
        "drain the last": 409,
        "remove the last": 409,
        "unknown": 404,
    }
    for response in refusals.values():
        assert response.json()["detail"].endswith("."), response.text
    assert "http:// or https://" in refusals["ftp"].json()["detail"]
    assert "At least one server must take new jobs" in refusals["drain the last"].json()["detail"]
    assert http.get(f"{API}/settings", headers=admin.headers).json() == settings_restored
    assert servers(http, admin) == [only]


def test_the_server_routes_are_for_admins_only(
    http: httpx.Client, admin: Account, user: Account
) -> None:
    [server] = servers(http, admin)
    attempts = [
        http.get(f"{API}/servers", headers=user.headers),
        http.post(f"{API}/servers", headers=user.headers, json={"url": "http://x:1"}),
        http.delete(f"{API}/servers/{server['id']}", headers=user.headers),
        http.put(f"{API}/servers/{server['id']}/drain", headers=user.headers, json={"drained": 1}),
        http.get(f"{API}/queue", headers=user.headers, params={"all": "true"}),
    ]

    assert [response.status_code for response in attempts] == [403] * len(attempts)


def test_the_queue_shows_a_user_their_own_jobs_and_an_admin_everyones_oldest_first(
    http: httpx.Client,
    admin: Account,
    user: Account,
    other_user: Account,
    comfy: ThreadedDouble,
    slow_steps: None,
) -> None:
    mine = started(http, user, prompt="mine", steps=10)
    theirs = started(http, other_user, prompt="theirs", steps=10)
    try:
        own = http.get(f"{API}/queue", headers=user.headers).json()["items"]
        everyone = http.get(f"{API}/queue", headers=admin.headers, params={"all": "true"})

        assert [item["id"] for item in own] == [mine["id"]]
        assert own[0]["owner_name"] is None
        items = everyone.json()["items"]
        assert [item["id"] for item in items] == [mine["id"], theirs["id"]]
        assert [item["owner_name"] for item in items] == ["Uma User", "Otto Other"]
        assert items[0]["server"] == "server 1"
        assert items[1]["place"] == 1 or items[1]["server"] == "server 1"
    finally:
        for job, account in ((mine, user), (theirs, other_user)):
            http.post(f"{API}/jobs/{job['id']}/cancel", headers=account.headers)
