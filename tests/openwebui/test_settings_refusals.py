"""Settings an admin cannot mean are refused with a sentence, whole, before anything is
stored: the stored settings stay as they were and every route keeps working. Through
our PUT /settings and through Open WebUI's own valves route (the admin panel's form)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from comfyui_pipe.config import PipeConfig
from openwebui.harness import Account
from openwebui.settings_checks import (
    VALVES,
    assert_every_route_works,
    assert_refused_with_a_sentence,
    served_settings,
    stored_valves,
)
from openwebui.test_api_jobs import API

FIELDS = PipeConfig.model_fields
TEXT_FIELDS = [name for name, field in FIELDS.items() if field.annotation is str]
NUMERIC_FIELDS = [name for name, field in FIELDS.items() if field.annotation in (int, float)]


@pytest.fixture
def unchanged(http: httpx.Client, admin: Account, user: Account) -> Iterator[dict[str, Any]]:
    """The settings before the test; after it, they are what they were (put back in any
    case, so that one failure does not spoil the next tests)."""
    before = {"stored": stored_valves(http, admin), "served": served_settings(http, admin)}
    yield before
    http.post(f"{VALVES}/update", headers=admin.headers, json=before["stored"])
    http.put(f"{API}/settings", headers=admin.headers, json=before["served"])


def refused_by_put(
    http: httpx.Client, admin: Account, user: Account, before: dict[str, Any], body: dict
) -> str:
    started_at = time.monotonic()
    response = http.put(f"{API}/settings", headers=admin.headers, json=body)
    took = time.monotonic() - started_at
    [field] = body
    detail = assert_refused_with_a_sentence(response, 422, field)
    assert took < 1.0, f"the refusal took {took:.2f} s"
    assert stored_valves(http, admin) == before["stored"]
    assert served_settings(http, admin) == before["served"]
    assert_every_route_works(http, admin, user)
    return detail


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "at least one ComfyUI server"),
        (" , ", "at least one ComfyUI server"),
        ("ftp://127.0.0.1:8188", "http:// or https://"),
        ("127.0.0.1:8188", "http:// or https://"),
        ("http://", "host"),
        ("http://127.0.0.1:99999", "not a valid URL"),
        ("http://[::1", "not a valid URL"),
        ("http://ada:secret@127.0.0.1:8188", "user name or password"),
        ("http://127.0.0.1:8188?x=1", "query"),
        ("http://127.0.0.1:8188\r\nX-Injected: 1", "control character"),
        ("http://127.0.0.1:8188, http://127.0.0.1:8188/", "twice"),
    ],
)
def test_a_server_list_that_names_no_usable_server_is_refused(
    http: httpx.Client, admin: Account, user: Account, unchanged: dict, value: str, says: str
) -> None:
    detail = refused_by_put(http, admin, user, unchanged, {"comfyui_url": value})

    assert says in detail
    assert "secret" not in detail


@pytest.mark.parametrize(
    "value", ["X-Key: a\r\nX-Other: b", "X-Key: a\nb", "X Key: a", "no colon", "X-Key: café"]
)
def test_a_header_that_is_not_one_header_line_is_refused(
    http: httpx.Client, admin: Account, user: Account, unchanged: dict, value: str
) -> None:
    refused_by_put(http, admin, user, unchanged, {"comfyui_auth_header": value})


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("character", ["\x00", "\n", "\x85"])
def test_control_characters_are_refused_in_every_text_field(
    http: httpx.Client, admin: Account, user: Account, unchanged: dict, field: str, character: str
) -> None:
    value = unchanged["served"][field] or "x"
    detail = refused_by_put(http, admin, user, unchanged, {field: value + character})

    assert "control character" in detail


@pytest.mark.parametrize("field", NUMERIC_FIELDS)
def test_every_number_has_an_upper_bound(
    http: httpx.Client, admin: Account, user: Account, unchanged: dict, field: str
) -> None:
    refused_by_put(http, admin, user, unchanged, {field: 10**12})


@pytest.mark.parametrize(
    ("field", "value"),
    [("job_timeout", 1e300), ("server_queue_depth", 10**12), ("lease_expiry", 1e308)],
)
def test_the_huge_values_of_issue_18_are_refused(
    http: httpx.Client, admin: Account, user: Account, unchanged: dict, field: str, value: float
) -> None:
    refused_by_put(http, admin, user, unchanged, {field: value})


@pytest.mark.parametrize(
    "value",
    [
        "Pro = 1e308",
        "Pro = 1e-300",
        ", ".join(f"group{number} = 2" for number in range(5_000)),
        ", ".join(f"g{number}=2" for number in range(20_000)),
        "x" * 20_000 + " = 2",
    ],
    ids=["huge-weight", "tiny-weight", "5000-groups", "20000-groups", "long-name"],
)
def test_group_weights_beyond_the_bounds_are_refused_at_once(
    http: httpx.Client, admin: Account, user: Account, unchanged: dict, value: str
) -> None:
    refused_by_put(http, admin, user, unchanged, {"queue_group_weights": value})


@pytest.mark.parametrize(
    "change",
    [
        {"comfyui_url": ""},
        {"comfyui_url": "http://127.0.0.1:8188\r\nX: y"},
        {"comfyui_auth_header": "X-Key: a\r\nX-Other: b"},
        {"job_timeout": 1e300},
        {"queue_group_weights": "Pro = 1e308"},
    ],
)
def test_open_webuis_own_valves_route_refuses_them_too(
    http: httpx.Client, admin: Account, user: Account, unchanged: dict, change: dict
) -> None:
    response = http.post(
        f"{VALVES}/update", headers=admin.headers, json={**unchanged["served"], **change}
    )

    assert response.status_code == 400, response.text
    assert stored_valves(http, admin) == unchanged["stored"]
    assert served_settings(http, admin) == unchanged["served"]
    assert_every_route_works(http, admin, user)
