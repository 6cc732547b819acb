"""The model fetcher against a real local HTTP server."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deploy.model_server import ModelServer, running_model_server

from comfyui_pipe.fetch_models import FetchError, fetch_model
from comfyui_pipe.fetch_models.cli import main
from comfyui_pipe.workflow.model import ModelFile

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, several chunks
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with running_model_server() as running:
        running.files["/model.safetensors"] = PAYLOAD
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


def model_at(url: str, *, sha256: str | None = DIGEST, size: int | None = len(PAYLOAD)):
    return ModelFile("checkpoints", "model.safetensors", url, size_bytes=size, sha256=sha256)


def fetch(client: httpx.Client, model: ModelFile, models_dir: Path, **options):
    return fetch_model(client, model, models_dir, retry_delay=0, **options)


def test_downloads_a_missing_model_and_leaves_no_partial_file(server, client, tmp_path):
    result = fetch(client, model_at(server.url("/model.safetensors")), tmp_path)

    target = tmp_path / "checkpoints" / "model.safetensors"
    assert result.status == "downloaded"
    assert result.path == target
    assert target.read_bytes() == PAYLOAD
    assert list(target.parent.iterdir()) == [target]


def test_skips_a_model_that_is_already_there(server, client, tmp_path):
    target = tmp_path / "checkpoints" / "model.safetensors"
    target.parent.mkdir()
    target.write_bytes(PAYLOAD)

    result = fetch(client, model_at(server.url("/model.safetensors")), tmp_path)

    assert result.status == "present"
    assert server.requests == []


def test_refuses_to_replace_a_present_file_with_another_checksum(server, client, tmp_path):
    target = tmp_path / "checkpoints" / "model.safetensors"
    target.parent.mkdir()
    target.write_bytes(b"x" * len(PAYLOAD))

    with pytest.raises(FetchError, match="wrong sha256"):
        fetch(client, model_at(server.url("/model.safetensors")), tmp_path)

    assert target.read_bytes() == b"x" * len(PAYLOAD)
    assert server.requests == []


def test_resumes_with_a_range_request_after_the_connection_breaks(server, client, tmp_path):
    half = len(PAYLOAD) // 2
    server.break_next(1, after_bytes=half)
    lines: list[str] = []

    result = fetch(
        client, model_at(server.url("/model.safetensors")), tmp_path, report=lines.append
    )

    assert (tmp_path / "checkpoints" / "model.safetensors").read_bytes() == PAYLOAD
    assert [(r.range, r.status) for r in server.requests] == [(None, 200), (f"bytes={half}-", 206)]
    assert result.bytes_received == len(PAYLOAD)
    assert any("resuming" in line for line in lines)


def test_a_later_run_resumes_the_partial_file_of_an_earlier_one(server, client, tmp_path):
    server.break_next(1, after_bytes=300_000)
    with pytest.raises(FetchError, match="connection broke"):
        fetch(client, model_at(server.url("/model.safetensors")), tmp_path, attempts=1)
    part = tmp_path / "checkpoints" / "model.safetensors.part"
    assert part.stat().st_size == 300_000

    result = fetch(client, model_at(server.url("/model.safetensors")), tmp_path)

    assert result.bytes_received == len(PAYLOAD) - 300_000
    assert server.requests[-1].range == "bytes=300000-"
    assert (tmp_path / "checkpoints" / "model.safetensors").read_bytes() == PAYLOAD
    assert not part.exists()


def test_starts_over_when_the_server_ignores_range(server, client, tmp_path):
    part = tmp_path / "checkpoints" / "model.safetensors.part"
    part.parent.mkdir()
    part.write_bytes(PAYLOAD[:1000])
    server.ignore_range = True

    fetch(client, model_at(server.url("/model.safetensors")), tmp_path)

    assert [(r.range, r.status) for r in server.requests] == [("bytes=1000-", 200)]
    assert (tmp_path / "checkpoints" / "model.safetensors").read_bytes() == PAYLOAD


def test_a_complete_partial_file_is_finished_without_downloading_again(server, client, tmp_path):
    part = tmp_path / "checkpoints" / "model.safetensors.part"
    part.parent.mkdir()
    part.write_bytes(PAYLOAD)

    result = fetch(client, model_at(server.url("/model.safetensors"), size=None), tmp_path)

    assert [r.status for r in server.requests] == [416]
    assert result.path.read_bytes() == PAYLOAD


def test_a_checksum_mismatch_deletes_the_download_and_fails(server, client, tmp_path):
    model = model_at(server.url("/model.safetensors"), sha256="0" * 64)

    with pytest.raises(FetchError, match=r"wrong sha256.*deleted"):
        fetch(client, model, tmp_path)

    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_a_missing_file_on_the_server_fails_at_once(server, client, tmp_path):
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(client, model_at(server.url("/nope.safetensors")), tmp_path)

    assert len(server.requests) == 1


def test_a_filename_cannot_escape_the_models_folder(server, client, tmp_path):
    model = ModelFile("checkpoints", "../../evil.safetensors", server.url("/model.safetensors"))

    with pytest.raises(FetchError, match="outside"):
        fetch(client, model, tmp_path / "models")

    assert server.requests == []


# --- the command line -----------------------------------------------------------------------


def write_workflow(directory: Path, workflow_id: str, models: list[dict]) -> None:
    directory.mkdir(exist_ok=True)
    graph = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x"}}}
    (directory / f"{workflow_id}.json").write_text(json.dumps(graph))
    (directory / f"{workflow_id}.meta.json").write_text(json.dumps({"models": models}))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cli(workflows: Path, models: Path, environ: dict[str, str], *extra: str) -> int:
    argv = ["--workflows", str(workflows), "--models-dir", str(models), *extra]
    return main(argv, environ, retry_delay=0)


def test_cli_fetches_the_default_workflows_models(server, tmp_path, capsys):
    entry = {"folder": "checkpoints", "filename": "m.safetensors", "sha256": DIGEST}
    write_workflow(tmp_path / "wf", "mine", [{**entry, "url": server.url("/model.safetensors")}])

    code = run_cli(tmp_path / "wf", tmp_path / "models", {"COMFYUI_DEFAULT_WORKFLOW": "mine"})

    assert code == 0
    assert (tmp_path / "models" / "checkpoints" / "m.safetensors").read_bytes() == PAYLOAD
    assert "Saved checkpoints/m.safetensors" in capsys.readouterr().out

    assert run_cli(tmp_path / "wf", tmp_path / "models", {}, "--workflow", "mine") == 0
    assert "Already present: checkpoints/m.safetensors" in capsys.readouterr().out
    assert len(server.requests) == 1


def test_cli_can_be_turned_off_by_environment(server, tmp_path, capsys):
    write_workflow(tmp_path / "wf", "mine", [{"folder": "vae", "filename": "v.pt", "url": "x"}])
    environ = {"COMFYUI_FETCH_MODELS": "false", "COMFYUI_DEFAULT_WORKFLOW": "mine"}

    assert run_cli(tmp_path / "wf", tmp_path / "models", environ) == 0

    assert "off" in capsys.readouterr().out
    assert not (tmp_path / "models").exists()


def test_cli_offline_fails_with_one_clear_line(tmp_path, capsys):
    url = f"http://127.0.0.1:{closed_port()}/model.safetensors"
    write_workflow(tmp_path / "wf", "mine", [{"folder": "vae", "filename": "v.pt", "url": url}])

    code = run_cli(tmp_path / "wf", tmp_path / "models", {}, "--workflow", "mine")

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("fetch_models: error: Cannot download vae/v.pt from 127.0.0.1: ")
    assert "cannot connect" in err
    assert not (tmp_path / "models" / "vae" / "v.pt").exists()


def test_cli_names_the_available_workflows_when_the_id_is_unknown(tmp_path, capsys):
    write_workflow(tmp_path / "wf", "mine", [])

    assert run_cli(tmp_path / "wf", tmp_path / "models", {}, "--workflow", "other") == 1

    err = capsys.readouterr().err
    assert "No workflow 'other'" in err
    assert "(available: mine)" in err
