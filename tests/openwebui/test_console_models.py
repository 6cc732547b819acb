"""Model files as an admin manages them from the console: each server's folders and what
the workflows need there; a download from a real HTTP server into the server's models
folder (progress, resume, checksum, a free-disk check first), after which the workflow
that lacked it is available without a restart; removal; refusals that write nothing."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from deploy.model_server import ModelServer, running_model_server

from openwebui.harness import Account, ThreadedDouble
from openwebui.test_api_jobs import API, finished, started
from openwebui.test_console_workflows import ui_workflow

FILE = bytes(range(256)) * 4096  # 1 MiB
SHA256 = hashlib.sha256(FILE).hexdigest()
WAIT = 30.0


@pytest.fixture
def files() -> Iterator[ModelServer]:
    with running_model_server() as server:
        server.files = {"/good.safetensors": FILE, "/corrupt.safetensors": FILE[:-1] + b"x"}
        yield server


@pytest.fixture
def models_dir(
    tmp_path: Path, http: httpx.Client, admin: Account, comfy: ThreadedDouble
) -> Iterator[Path]:
    """The server's models folder, shared with this Open WebUI as the compose stack does."""
    root = tmp_path / "models"
    for folder in ("checkpoints", "loras"):
        (root / folder).mkdir(parents=True)
    before = http.get(f"{API}/settings", headers=admin.headers).json()
    comfy.double.models_dir = root
    changed = {"model_folders": f"{comfy.url} = {root}"}
    http.put(f"{API}/settings", headers=admin.headers, json=changed).raise_for_status()
    yield root
    comfy.double.models_dir = None
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


@pytest.fixture
def needs_download(
    http: httpx.Client, admin: Account, files: ModelServer
) -> Iterator[dict[str, Any]]:
    """An uploaded workflow whose checkpoint no server has yet; its metadata says where to
    get it."""
    model = {
        "folder": "checkpoints",
        "filename": "console_fetch.safetensors",
        "url": files.url("/good.safetensors"),
        "size_bytes": len(FILE),
        "sha256": SHA256,
    }
    upload = {
        "id": "needs_download",
        "workflow": ui_workflow("console_fetch.safetensors"),
        "meta": {"title": "Needs a download", "models": [model]},
    }
    response = http.post(
        f"{API}/workflows", headers=admin.headers, json=upload, params={"missing_models": "allow"}
    )
    assert response.status_code == 201, response.text
    yield model
    http.delete(f"{API}/workflows/needs_download", headers=admin.headers)


def server_of(http: httpx.Client, admin: Account) -> dict[str, Any]:
    response = http.get(f"{API}/models/servers", headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["servers"][0]


def download(http: httpx.Client, admin: Account, **body: Any) -> httpx.Response:
    server = http.get(f"{API}/servers", headers=admin.headers).json()["servers"][0]["id"]
    return http.post(
        f"{API}/models/downloads", headers=admin.headers, json={"server": server, **body}
    )


def downloads_until_ended(http: httpx.Client, admin: Account, download_id: str) -> list[dict]:
    """Each state of the download seen while polling, until it ended."""
    seen = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        items = http.get(f"{API}/models/downloads", headers=admin.headers).json()["items"]
        [now] = [item for item in items if item["id"] == download_id]
        seen.append(now)
        if now["state"] != "running":
            return seen
        time.sleep(0.1)
    raise AssertionError(f"the download never ended: {seen[-1]}")


def available(http: httpx.Client, admin: Account, workflow_id: str) -> bool:
    listed = http.get(f"{API}/workflows/all", headers=admin.headers).json()
    return next(w for w in listed if w["id"] == workflow_id)["available"]


def test_each_server_shows_its_folders_sizes_free_disk_and_what_workflows_need(
    http: httpx.Client, admin: Account, models_dir: Path, needs_download: dict[str, Any]
) -> None:
    (models_dir / "loras" / "mine.safetensors").write_bytes(b"x" * 1000)

    server = server_of(http, admin)

    assert server["writable"] is True and server["models_folder"] == str(models_dir)
    assert server["free_bytes"] > 0
    folders = {folder["name"]: folder for folder in server["folders"]}
    assert {"name": "mine.safetensors", "size": 1000, "partial": False} in folders["loras"]["files"]
    assert folders["loras"]["size"] == 1000
    assert any(file["name"] == "sd15.safetensors" for file in folders["checkpoints"]["files"])
    needs = {(need["workflow"], need["filename"]): need for need in server["needs"]}
    assert needs[("needs_download", "console_fetch.safetensors")]["present"] is False
    assert needs[("needs_download", "console_fetch.safetensors")]["url"] == needs_download["url"]
    assert all(
        need["present"] for (workflow, _), need in needs.items() if workflow == "sd15_txt2img"
    )


def test_a_missing_model_is_downloaded_checked_and_its_workflow_runs_without_a_restart(
    http: httpx.Client,
    admin: Account,
    user: Account,
    models_dir: Path,
    files: ModelServer,
    needs_download: dict[str, Any],
) -> None:
    files.chunk_delay = 0.05
    files.break_next(1, after_bytes=300_000)  # the first try breaks: the second resumes
    assert not available(http, admin, "needs_download")

    started_download = download(http, admin, **needs_download)

    assert started_download.status_code == 202, started_download.text
    seen = downloads_until_ended(http, admin, started_download.json()["id"])
    assert seen[-1]["state"] == "completed", seen[-1]
    assert any(0 < s["received"] < len(FILE) and s["state"] == "running" for s in seen)
    assert seen[-1]["received"] == len(FILE) and seen[-1]["percent"] == 100.0
    assert [r.range for r in files.requests][-1] == "bytes=300000-"
    stored = models_dir / "checkpoints" / "console_fetch.safetensors"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == SHA256
    assert available(http, admin, "needs_download")
    job = started(http, user, workflow="needs_download", prompt="a fetched model", steps=1)
    assert finished(http, user, job["id"])["state"] == "completed"


def test_a_download_that_does_not_match_its_checksum_is_refused_and_deleted(
    http: httpx.Client, admin: Account, models_dir: Path, files: ModelServer
) -> None:
    body = {
        "folder": "checkpoints",
        "filename": "corrupt.safetensors",
        "url": files.url("/corrupt.safetensors"),
        "sha256": SHA256,
    }

    response = download(http, admin, **body)

    assert response.status_code == 202, response.text
    ended = downloads_until_ended(http, admin, response.json()["id"])[-1]
    assert ended["state"] == "failed"
    assert "wrong sha256 checksum" in ended["error"] and ended["error"].endswith(".")
    assert list((models_dir / "checkpoints").iterdir()) == []


def test_a_cancelled_download_keeps_what_arrived_and_resumes_when_started_again(
    http: httpx.Client, admin: Account, models_dir: Path, files: ModelServer
) -> None:
    files.chunk_delay = 0.2
    body = {
        "folder": "loras",
        "filename": "slow.safetensors",
        "url": files.url("/good.safetensors"),
    }
    first = download(http, admin, **body).json()
    deadline = time.monotonic() + WAIT
    part = models_dir / "loras" / "slow.safetensors.part"
    while not (part.exists() and part.stat().st_size > 0):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    cancelled = http.post(f"{API}/models/downloads/{first['id']}/cancel", headers=admin.headers)

    assert cancelled.json()["state"] == "cancelled"
    assert downloads_until_ended(http, admin, first["id"])[-1]["state"] == "cancelled"
    kept = part.stat().st_size
    assert 0 < kept < len(FILE)
    files.chunk_delay = 0.0
    again = download(http, admin, **body)
    assert again.status_code == 202, again.text
    assert downloads_until_ended(http, admin, again.json()["id"])[-1]["state"] == "completed"
    resumed_from = int(str(files.requests[-1].range).removeprefix("bytes=").removesuffix("-"))
    assert kept <= resumed_from < len(FILE)
    assert (models_dir / "loras" / "slow.safetensors").read_bytes() == FILE


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"url": "ftp://example.com/a.safetensors"}, 422, "http:// or https://"),
        ({"url": "file:///etc/passwd"}, 422, "http:// or https://"),
        ({"filename": "../../escape.safetensors"}, 422, "leaves its folder"),
        ({"filename": "/etc/absolute.safetensors"}, 422, "absolute path"),
        ({"filename": "notes.txt"}, 422, "ends in one of"),
        ({"folder": "custom_nodes_x"}, 422, "has no model folder 'custom_nodes_x'"),
        ({"url": "/huge.safetensors"}, 507, "free"),
        ({"url": "/missing.safetensors"}, 422, "answered HTTP 404"),
        ({"filename": "there.safetensors"}, 409, "there already"),
    ],
)
def test_a_download_that_cannot_be_made_is_refused_in_a_sentence_and_writes_nothing(
    http: httpx.Client,
    admin: Account,
    models_dir: Path,
    files: ModelServer,
    change: dict[str, str],
    status: int,
    says: str,
) -> None:
    files.files["/huge.safetensors"] = b"small"
    files.announced["/huge.safetensors"] = 10**18
    (models_dir / "checkpoints" / "there.safetensors").write_bytes(b"model")
    before = sorted(models_dir.rglob("*"))
    body = {"folder": "checkpoints", "filename": "new.safetensors", "url": "/good.safetensors"}
    body.update(change)
    if body["url"].startswith("/"):
        body["url"] = files.url(body["url"])

    response = download(http, admin, **body)

    assert response.status_code == status, response.text
    assert says in response.json()["detail"] and response.json()["detail"].endswith(".")
    assert sorted(models_dir.rglob("*")) == before


def test_a_server_this_open_webui_cannot_write_to_is_told_where_the_file_goes(
    http: httpx.Client, admin: Account, files: ModelServer
) -> None:
    body = {
        "folder": "checkpoints",
        "filename": "x.safetensors",
        "url": files.url("/good.safetensors"),
    }

    response = download(http, admin, **body)

    assert response.status_code == 409
    assert "put x.safetensors into its checkpoints folder yourself" in response.json()["detail"]
    assert server_of(http, admin)["writable"] is False


def test_a_model_is_removed_and_its_workflow_listed_as_missing_it_again(
    http: httpx.Client,
    admin: Account,
    models_dir: Path,
    needs_download: dict[str, Any],
) -> None:
    (models_dir / "checkpoints" / "console_fetch.safetensors").write_bytes(FILE)
    listed = http.get(f"{API}/workflows/all", headers=admin.headers, params={"refresh": True})
    assert next(w for w in listed.json() if w["id"] == "needs_download")["available"]
    server = server_of(http, admin)["id"]
    path = f"{API}/models/files/{server}/checkpoints/console_fetch.safetensors"

    assert http.delete(path, headers=admin.headers).status_code == 204

    assert not (models_dir / "checkpoints" / "console_fetch.safetensors").exists()
    assert not available(http, admin, "needs_download")
    assert http.delete(path, headers=admin.headers).status_code == 404
    wrong = http.delete(f"{API}/models/files/{server}/checkpoints/notes.txt", headers=admin.headers)
    assert wrong.status_code == 400


def test_the_model_routes_are_for_admins_only(http: httpx.Client, user: Account) -> None:
    attempts = [
        http.get(f"{API}/models/servers", headers=user.headers),
        http.get(f"{API}/models/downloads", headers=user.headers),
        http.post(f"{API}/models/downloads", headers=user.headers, json={}),
        http.post(f"{API}/models/downloads/x/cancel", headers=user.headers),
        http.delete(f"{API}/models/files/x/checkpoints/a.safetensors", headers=user.headers),
    ]

    assert [response.status_code for response in attempts] == [403] * len(attempts)
