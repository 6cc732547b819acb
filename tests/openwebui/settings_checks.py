"""What the settings tests share: the settings as stored and as served, and a look at
every /api/v1/comfyui route a user and an admin call."""

from __future__ import annotations

from typing import Any

import httpx

from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from openwebui.harness import Account
from openwebui.test_api_jobs import API, finished, started

VALVES = f"/api/v1/functions/id/{FUNCTION_ID}/valves"


def stored_valves(http: httpx.Client, admin: Account) -> dict[str, Any]:
    """The function's valves row, as Open WebUI's own route reads it."""
    response = http.get(VALVES, headers=admin.headers)
    response.raise_for_status()
    return response.json() or {}


def served_settings(http: httpx.Client, admin: Account) -> dict[str, Any]:
    response = http.get(f"{API}/settings", headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()


def assert_every_route_works(http: httpx.Client, admin: Account, user: Account) -> None:
    """Each route answers as it should, and a generation runs to its end."""
    for account, path in [
        (user, "/workflows"),
        (user, "/health"),
        (user, "/models"),
        (user, "/jobs"),
        (admin, "/settings"),
    ]:
        response = http.get(f"{API}{path}", headers=account.headers)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    job = started(http, user, prompt="a lighthouse", steps=1)
    assert finished(http, user, job["id"])["state"] == "completed"


def assert_refused_with_a_sentence(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail.endswith("."), detail
    assert field in detail, detail
    return detail
