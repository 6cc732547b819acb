"""Admins weight Open WebUI groups in the queue: a user of a group weighing 3 gets
three turns to another user's one, through the real Open WebUI's groups."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from openwebui.harness import Account, ThreadedDouble
from openwebui.test_api_jobs import API, finished, started, wait_for_job

BLOCKER_SEED, USER_SEEDS, PRO_SEEDS = 1, range(100, 103), range(200, 204)


def wait_for_an_empty_queue(http: httpx.Client, admin: Account) -> None:
    """Turns are counted from the last time nothing was queued: a job left over by
    another test (one no server can run waits for good) would carry its users' turns
    into these."""
    deadline = time.monotonic() + 30
    while items := http.get(f"{API}/queue?all=true", headers=admin.headers).json()["items"]:
        assert time.monotonic() < deadline, f"jobs left in the queue by other tests: {items}"
        time.sleep(0.1)


@pytest.fixture
def one_job_at_a_time(http: httpx.Client, admin: Account, comfy: ThreadedDouble) -> Iterator[None]:
    wait_for_an_empty_queue(http, admin)
    before = http.get(f"{API}/settings", headers=admin.headers).json()
    changed = {"server_queue_depth": 1, "jobs_per_user": 8}
    http.put(f"{API}/settings", headers=admin.headers, json=changed).raise_for_status()
    step_seconds, comfy.double.step_seconds = comfy.double.step_seconds, 0.05
    yield
    comfy.double.step_seconds = step_seconds
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


@pytest.fixture
def pro_group(http: httpx.Client, admin: Account, other_user: Account) -> Iterator[str]:
    created = http.post(
        "/api/v1/groups/create",
        headers=admin.headers,
        json={"name": "Pro", "description": "paying users"},
    )
    created.raise_for_status()
    group_id = created.json()["id"]
    added = http.post(
        f"/api/v1/groups/id/{group_id}/users/add",
        headers=admin.headers,
        json={"user_ids": [other_user.id]},
    )
    added.raise_for_status()
    yield group_id
    http.delete(f"/api/v1/groups/id/{group_id}/delete", headers=admin.headers)


def seeds_in_the_order_comfyui_got_them(comfy: ThreadedDouble, since: int) -> list[int]:
    return [
        node["inputs"]["seed"]
        for body in comfy.double.prompts_received[since:]
        for node in body["prompt"].values()
        if node["class_type"] == "KSampler"
    ]


def owners_in_turn(
    http: httpx.Client, comfy: ThreadedDouble, user: Account, pro: Account
) -> list[str]:
    """A blocking job of ``user``'s, then three more of theirs and four of ``pro``'s
    queued behind it; once all are queued the blocker is stopped: whose job ComfyUI
    got each time it freed."""
    since = len(comfy.double.prompts_received)
    quick, comfy.double.step_seconds = comfy.double.step_seconds, 1.0
    blocker = started(http, user, prompt="a wall", seed=BLOCKER_SEED, steps=20)
    wait_for_job(http, user, blocker["id"], lambda job: job["state"] == "running")
    comfy.double.step_seconds = quick
    jobs = [(user, started(http, user, prompt="a cat", seed=seed)) for seed in USER_SEEDS]
    jobs += [(pro, started(http, pro, prompt="a dog", seed=seed)) for seed in PRO_SEEDS]
    stopped = http.post(f"{API}/jobs/{blocker['id']}/cancel", headers=user.headers)
    assert stopped.status_code == 200, stopped.text
    assert finished(http, user, blocker["id"])["state"] == "cancelled"
    for account, job in jobs:
        assert finished(http, account, job["id"])["state"] == "completed"
    seeds = seeds_in_the_order_comfyui_got_them(comfy, since)
    assert seeds[0] == BLOCKER_SEED
    return ["pro" if seed in PRO_SEEDS else "user" for seed in seeds[1:]]


def test_users_take_turns_whoever_queued_first(
    http: httpx.Client,
    user: Account,
    other_user: Account,
    comfy: ThreadedDouble,
    one_job_at_a_time: None,
) -> None:
    order = owners_in_turn(http, comfy, user, other_user)

    assert order == ["pro", "user", "pro", "user", "pro", "user", "pro"]


def test_a_group_weighing_three_gets_three_turns_to_anothers_one(
    http: httpx.Client,
    admin: Account,
    user: Account,
    other_user: Account,
    comfy: ThreadedDouble,
    one_job_at_a_time: None,
    pro_group: str,
) -> None:
    weighted = http.put(
        f"{API}/settings", headers=admin.headers, json={"queue_group_weights": "pro = 3"}
    )
    assert weighted.status_code == 200, weighted.text

    order = owners_in_turn(http, comfy, user, other_user)

    assert order == ["pro", "pro", "pro", "user", "pro", "user", "user"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Pro = lots", "The weight of the group 'Pro' must be a number from 0.01 to 100."),
        ("Pro = 0", "The weight of the group 'Pro' must be a number from 0.01 to 100."),
        ("Pro = nan", "The weight of the group 'Pro' must be a number from 0.01 to 100."),
        ("Pro = 1e308", "The weight of the group 'Pro' must be a number from 0.01 to 100."),
        ("Pro 3", "Write each group's weight as 'group = weight' (not 'Pro 3')."),
        ("Pro = 2, pro = 3", "The group 'pro' is given a weight twice."),
    ],
)
def test_weights_an_admin_cannot_mean_are_refused_with_a_sentence(
    http: httpx.Client, admin: Account, text: str, says: str
) -> None:
    before: dict[str, Any] = http.get(f"{API}/settings", headers=admin.headers).json()

    refused = http.put(f"{API}/settings", headers=admin.headers, json={"queue_group_weights": text})

    assert refused.status_code == 422
    assert refused.json()["detail"] == f"queue_group_weights: {says}"
    after = http.get(f"{API}/settings", headers=admin.headers).json()
    assert after["queue_group_weights"] == before["queue_group_weights"]
