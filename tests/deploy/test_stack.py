"""The compose stack, really up: built, started and used through its published port only.

docker-compose.yaml (plus the GPU overrides) with stack/compose.test*.yaml, which
swap only what cannot be had here: the upstream base images (stand-ins built from
Debian and PyPI), ComfyUI (the project's ComfyUI double), the models' download
URLs (a server on the stack's network) and the GPU reservations.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from deploy import engine
from deploy.engine import ROOT, STACK_DIR, Stack
from openwebui.harness import PASSWORD, Account, free_port, sign_up
from openwebui.job_events import JobEvents
from PIL import Image

from comfyui_pipe.config import PipeConfig

pytestmark = pytest.mark.timeout(1800)

PROJECT = f"comfyui-pipe-stack-test-{os.getpid()}"  # runs sharing an engine stay apart
API = "/api/v1/comfyui"
CPU_FILES = [ROOT / "docker-compose.yaml", STACK_DIR / "compose.test.yaml"]
GPU_FILES = [
    ROOT / "docker-compose.yaml", ROOT / "docker-compose.gpu.yaml",
    STACK_DIR / "compose.test.yaml", STACK_DIR / "compose.test-gpu.yaml",
]  # fmt: skip
MULTI_GPU_FILES = [
    ROOT / "docker-compose.yaml", ROOT / "docker-compose.multi-gpu.yaml",
    STACK_DIR / "compose.test.yaml", STACK_DIR / "compose.test-gpu.yaml",
    STACK_DIR / "compose.test-multi-gpu.yaml",
]  # fmt: skip
# Open WebUI's health check runs every 30 s: it is healthy one or two checks after start.
HEALTHY_WITHIN = 240
MODEL_BYTES = bytes(range(256)) * 64


@pytest.fixture(scope="module")
def served_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default workflow's models as small files, and the workflows pointing at them."""
    data = tmp_path_factory.mktemp("stack-data")
    shutil.copytree(ROOT / "workflows", data / "workflows")
    (data / "models").mkdir()
    meta_path = data / "workflows" / f"{PipeConfig().default_workflow}.meta.json"
    meta = json.loads(meta_path.read_text())
    for model in meta["models"]:
        (data / "models" / model["filename"]).write_bytes(MODEL_BYTES)
        model["url"] = f"http://model-server:8000/{model['filename']}"
        model["size_bytes"] = len(MODEL_BYTES)
        model["sha256"] = hashlib.sha256(MODEL_BYTES).hexdigest()
    meta_path.write_text(json.dumps(meta))
    return data


@pytest.fixture(scope="module")
def base_images() -> Iterator[None]:
    reason = engine.unavailable_reason()
    if reason:
        pytest.skip(f"no Docker engine to run the compose stack: {reason}")
    engine.build_base_images()
    yield
    engine.remove_base_images()


def make_stack(files: list[Path], served_models: Path, port: int) -> Stack:
    return Stack(
        PROJECT,
        files,
        {
            "OPEN_WEBUI_BASE_IMAGE": engine.OPEN_WEBUI_BASE_IMAGE,
            "STACK_TEST_DATA": str(served_models),
            "OPEN_WEBUI_PORT": str(port),
        },
    )


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def stack(base_images: None, served_models: Path, port: int) -> Iterator[Stack]:
    cpu = make_stack(CPU_FILES, served_models, port)
    cpu.compose("build", timeout=engine.BUILD_TIMEOUT)
    try:
        cpu.compose("up", "--detach")
        cpu.wait_healthy("open-webui", HEALTHY_WITHIN)
        yield cpu
    finally:
        make_stack(MULTI_GPU_FILES, served_models, port).compose(
            "down", "--volumes", "--remove-orphans", "--rmi", "all", check=False
        )


@pytest.fixture(scope="module")
def http(stack: Stack, port: int) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def admin(http: httpx.Client) -> Account:
    return sign_up(http, "Ada Admin", "ada@example.com")


def started_at(container: dict) -> datetime:
    return datetime.fromisoformat(container["State"]["StartedAt"])


def test_comfyui_and_the_model_download_come_before_open_webui(stack: Stack) -> None:
    containers = stack.containers()
    fetcher, comfyui, open_webui = (
        containers[name] for name in ("model-fetcher", "comfyui", "open-webui")
    )

    assert fetcher["State"]["Status"] == "exited" and fetcher["State"]["ExitCode"] == 0
    assert datetime.fromisoformat(fetcher["State"]["FinishedAt"]) < started_at(open_webui)
    assert comfyui["State"]["Health"]["Status"] == "healthy"
    first_healthy = min(
        datetime.fromisoformat(check["End"])
        for check in comfyui["State"]["Health"]["Log"]
        if check["ExitCode"] == 0
    )
    assert first_healthy < started_at(open_webui)


def test_the_first_signup_is_the_admin_and_the_function_is_active(
    http: httpx.Client, admin: Account
) -> None:
    functions = http.get("/api/v1/functions/", headers=admin.headers).json()

    assert admin.role == "admin"
    assert [(f["id"], f["is_active"]) for f in functions if f["id"] == "comfyui"] == [
        ("comfyui", True)
    ]


def test_comfyui_offers_the_model_the_fetcher_downloaded(
    http: httpx.Client, admin: Account
) -> None:
    [model] = json.loads(
        (ROOT / "workflows" / f"{PipeConfig().default_workflow}.meta.json").read_text()
    )["models"]

    models = http.get(f"{API}/models", headers=admin.headers).json()["models"]

    assert model["filename"] in models[model["folder"]]


async def test_a_generation_reports_progress_and_stores_the_image(
    http: httpx.Client, admin: Account
) -> None:
    url = str(http.base_url).rstrip("/")
    async with (
        JobEvents(url, admin) as events,
        httpx.AsyncClient(base_url=url, timeout=30) as api,
    ):
        response = await api.post(
            f"{API}/generate", headers=admin.headers, json={"prompt": "a red fox", "steps": 5}
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        seen = await events.wait_for(job_id, lambda event: event["state"] == "completed")

        [file_id] = seen[-1]["output_file_ids"]
        stored = await api.get(f"/api/v1/files/{file_id}/content", headers=admin.headers)

    assert any(0 < event["percent"] < 100 for event in seen), seen
    assert stored.status_code == 200
    assert Image.open(io.BytesIO(stored.content)).format == "PNG"


def test_comfyui_publishes_no_port_and_is_not_reachable_from_outside_its_network(
    stack: Stack,
) -> None:
    comfyui = stack.containers()["comfyui"]
    [address] = [n["IPAddress"] for n in comfyui["NetworkSettings"]["Networks"].values()]
    # a container on Docker's default bridge stands for any machine outside the stack
    probe = (
        "import socket, sys\n"
        "try: socket.create_connection((sys.argv[1], 8188), timeout=3)\n"
        "except OSError: sys.exit(0)\n"
        "sys.exit(1)\n"
    )

    def unreachable_from(network: str) -> bool:
        run = ["run", "--rm", "--network", network, engine.OPEN_WEBUI_BASE_IMAGE]
        return engine.docker(*run, "python", "-c", probe, address, check=False).returncode == 0

    published = stack.compose("port", "comfyui", "8188", check=False)

    assert comfyui["NetworkSettings"]["Ports"].get("8188/tcp") is None
    assert published.returncode != 0 or published.stdout.strip() in ("", ":0")
    assert unreachable_from("bridge"), f"{address}:8188 answered outside the stack"
    assert not unreachable_from(f"{stack.project}_comfyui"), "the probe itself is broken"


def test_the_secret_and_the_data_survive_down_and_up(
    stack: Stack, http: httpx.Client, admin: Account
) -> None:
    files_before = http.get("/api/v1/files/", headers=admin.headers).json()
    assert files_before, "the generation test stores the image this test looks for"

    stack.compose("down")
    stack.compose("up", "--detach")
    stack.wait_healthy("open-webui", HEALTHY_WITHIN)

    # the token signed before still verifies: the generated secret was kept
    me = http.get("/api/v1/auths/", headers=admin.headers)
    assert me.status_code == 200 and me.json()["email"] == admin.email
    signin = {"email": admin.email, "password": PASSWORD}
    assert http.post("/api/v1/auths/signin", json=signin).status_code == 200
    assert http.get("/api/v1/files/", headers=admin.headers).json() == files_before


@pytest.mark.parametrize(
    ("files", "comfyuis"),
    [(GPU_FILES, ["comfyui"]), (MULTI_GPU_FILES, ["comfyui", "comfyui-gpu1"])],
    ids=["gpu", "multi-gpu"],
)
def test_the_gpu_stacks_start_with_every_comfyui_reachable(
    stack: Stack,
    http: httpx.Client,
    admin: Account,
    served_models: Path,
    port: int,
    files: list[Path],
    comfyuis: list[str],
) -> None:
    gpu = make_stack(files, served_models, port)
    config = gpu.compose("config", "--format", "json")
    services = json.loads(config.stdout)["services"]

    gpu.compose("up", "--detach", "--build", "--remove-orphans")
    gpu.wait_healthy("open-webui", HEALTHY_WITHIN)
    health = http.get(f"{API}/health", headers=admin.headers).json()

    for name in comfyuis:
        assert services[name]["build"]["args"]["COMFY_TORCH_VARIANT"] == "cuda"
        assert "reservations" not in services[name].get("deploy", {}).get("resources", {})
    assert health["ok"] is True
    assert [(b["url"], b["reachable"]) for b in health["backends"]] == [
        (f"http://{name}:8188", True) for name in comfyuis
    ]
