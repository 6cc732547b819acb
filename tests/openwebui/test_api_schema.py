"""Schemathesis over /api/v1/comfyui against the real Open WebUI, as a user and as an
admin: generated requests, valid and not, answer no 5xx and nothing the OpenAPI schema
does not describe (status codes, bodies, content types). Bounded: at most
``MAX_EXAMPLES`` cases per operation and ``MAX_SECONDS`` per account."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openwebui.harness import Account, OpenWebUIServer

API = "/api/v1/comfyui"
MAX_EXAMPLES = 15
MAX_SECONDS = 40
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture
def settings_restored(http: httpx.Client, admin: Account) -> Iterator[None]:
    """The admin's run changes settings and workflows at random: put them back."""
    before: dict[str, Any] = http.get(f"{API}/settings", headers=admin.headers).json()
    yield
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


@pytest.mark.timeout(2 * MAX_SECONDS + 60)
@pytest.mark.parametrize("role", ["user", "admin"])
def test_the_api_answers_as_its_schema_says(
    owui: OpenWebUIServer,
    user: Account,
    admin: Account,
    settings_restored: None,
    role: str,
    tmp_path: Path,
) -> None:
    account = admin if role == "admin" else user
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{owui.url}/openapi.json",
            "--include-path-regex",
            f"^{API}/",
            "--header",
            f"Authorization: Bearer {account.token}",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--max-time",
            str(MAX_SECONDS),
            "--workers",
            "1",
            "--seed",
            "8",
            "--phases",
            "examples,coverage,fuzzing",
            "--continue-on-failure",
            "--generation-database",
            ":memory:",
            "--report-dir",
            str(tmp_path),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + 60,
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-4000:]
