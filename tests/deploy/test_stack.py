"""The compose stack, really up: built, started and used through its published port only.

docker-compose.yaml (plus the GPU overrides) with stack/compose.test*.yaml, which
swap only what cannot be had here: the upstream base images (stand-ins built from
Debian and PyPI), the downloads of ComfyUI's image (the real ComfyUI kit's source and
CPU torchvision), the models' download URLs (a server on the stack's network) and the
GPU reservations. With the kit (../shared/comfyui-real) the CPU stack runs ComfyUI built
from docker/comfyui/Dockerfile with the kit's random-weight SD 1.5 checkpoint; without
it, and in the GPU stacks, ComfyUI is the project's double.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from comfyui_real.kit import (
    SOURCE_TARBALL,
    TORCHVISION_WHEEL,
    KitEnvironment,
    default_environment,
    kit_folder,
    kit_present,
)
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
REAL_COMFYUI_FILES = [*CPU_FILES, STACK_DIR / "compose.test-real-comfyui.yaml"]
REAL_COMFYUI_IMAGE = "comfyui-pipe-test/comfyui"
GPU_FILES = [
    ROOT / "docker-compose.yaml", ROOT / "docker-compose.gpu.yaml",
    STACK_DIR / "compose.test.yaml", STACK_DIR / "compose.test-gpu.yaml",
]  # fmt: skip
MULTI_GPU_FILES = [
    ROOT / "docker-compose.yaml", ROOT / "docker-compose.multi-gpu.yaml",
    STACK_DIR / "compose.test.yaml", STACK_DIR / "compose.test-gpu.yaml",
    STACK_DIR / "compose.test-multi-gpu.yaml",
]  # fmt: skip
# The test override checks health every 2 s (compose.test.yaml): healthy once it answers.
HEALTHY_WITHIN = 240
MODEL_BYTES = bytes(range(256)) * 64
# Small and few: a 256² step of the random SD 1.5 takes seconds on 2 busy cores.
GENERATE = {"prompt": "a red fox", "steps": 3, "width": 256, "height": 256}
GENERATION_WAIT = 600  # the first real one loads the checkpoint: ~20 s idle, minutes busy
FINISHED = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
def real_kit() -> KitEnvironment | None:
    """The installed real ComfyUI kit (scripts/test installs it), or None without a kit."""
    kit = kit_folder()
    if not kit_present(kit):
        return None
    installed = default_environment()
    if not installed.is_built_from(kit):
        pytest.fail(
            f"The real ComfyUI kit at {kit} is not installed in {installed.root}: "
            "run PYTHONPATH=tests python -m comfyui_real (scripts/test does)."
        )
    return installed


@pytest.fixture(scope="module")
def served_models(
    tmp_path_factory: pytest.TempPathFactory, real_kit: KitEnvironment | None
) -> Path:
    """The default workflow's models (the kit's checkpoint, else small files), and the
    workflows pointing at the model server."""
    data = tmp_path_factory.mktemp("stack-data")
    shutil.copytree(ROOT / "workflows", data / "workflows")
    (data / "models").mkdir()
    meta_path = data / "workflows" / f"{PipeConfig().default_workflow}.meta.json"
    meta = json.loads(meta_path.read_text())
    for model in meta["models"]:
        model["url"] = f"http://model-server:8000/{model['filename']}"
        if real_kit:
            model["size_bytes"] = (real_kit.checkpoints / model["filename"]).stat().st_size
            continue
        (data / "models" / model["filename"]).write_bytes(MODEL_BYTES)
        model["size_bytes"] = len(MODEL_BYTES)
        model["sha256"] = hashlib.sha256(MODEL_BYTES).hexdigest()
    meta_path.write_text(json.dumps(meta))
    return data


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ComfyUI's image would download: the host's CPU torch, the kit's files."""
    folder = tmp_path_factory.mktemp("stack-downloads")
    if kit_present():
        for name in (SOURCE_TARBALL, TORCHVISION_WHEEL):
            shutil.copyfile(kit_folder() / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def base_images(downloads: Path) -> Iterator[None]:
    reason = engine.unavailable_reason()
    if reason:
        pytest.skip(f"no Docker engine to run the compose stack: {reason}")
    engine.build_base_images(downloads)
    yield
    engine.remove_base_images()


def make_stack(files: list[Path], served_models: Path, port: int, **environ: str) -> Stack:
    return Stack(
        PROJECT,
        files,
        {
            "OPEN_WEBUI_BASE_IMAGE": engine.OPEN_WEBUI_BASE_IMAGE,
            "STACK_TEST_DATA": str(served_models),
            "OPEN_WEBUI_PORT": str(port),
            **environ,
        },
    )


def make_cpu_stack(
    served_models: Path, port: int, real_kit: KitEnvironment | None, downloads: Path, url: str
) -> Stack:
    """The CPU stack: with the kit, ComfyUI built from its Dockerfile with ``downloads``
    served at ``url``; else the double."""
    if real_kit is None:
        return make_stack(CPU_FILES, served_models, port)
    return make_stack(
        REAL_COMFYUI_FILES, served_models, port,
        STACK_PYTHON_IMAGE=engine.PYTHON_IMAGE,
        STACK_DOWNLOADS_URL=url,
        STACK_COMFYUI_TARBALL=SOURCE_TARBALL,
        STACK_TORCHVISION_WHEEL=TORCHVISION_WHEEL,
        STACK_TORCH_WHEEL=engine.cpu_torch_wheel(downloads).name,
        STACK_CHECKPOINTS=str(real_kit.checkpoints),
    )  # fmt: skip


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def stack(
    base_images: None,
    served_models: Path,
    port: int,
    real_kit: KitEnvironment | None,
    downloads: Path,
) -> Iterator[Stack]:
    with engine.served(downloads) as url:
        cpu = make_cpu_stack(served_models, port, real_kit, downloads, url)
        cpu.compose("build", timeout=engine.BUILD_TIMEOUT)
    try:
        cpu.compose("up", "--detach")
        cpu.wait_healthy("open-webui", HEALTHY_WITHIN)
        yield cpu
    finally:
        make_stack(MULTI_GPU_FILES, served_models, port).compose(
            "down", "--volumes", "--remove-orphans", "--rmi", "all", check=False
        )
        engine.docker("image", "rm", REAL_COMFYUI_IMAGE, check=False)


@pytest.fixture(scope="module")
def http(stack: Stack, port: int) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def admin(http: httpx.Client) -> Account:
    return sign_up(http, "Ada Admin", "ada@example.com")


def started_at(container: dict) -> datetime:
    return datetime.fromisoformat(container["State"]["StartedAt"])


def became_healthy(container: dict) -> datetime:
    """When Docker first reported ``container`` healthy: from the engine's events, since
    its health log keeps only the last five checks."""
    since, until = started_at(container).timestamp() - 1, time.time() + 1
    events = engine.docker(
        "events", "--since", f"{since:.0f}", "--until", f"{until:.0f}", "--format", "{{json .}}",
        "--filter", f"container={container['Id']}", "--filter", "event=health_status",
    ).stdout.splitlines()  # fmt: skip
    return min(
        datetime.fromtimestamp(event["timeNano"] / 1e9, UTC)
        for event in map(json.loads, events)
        if event["Action"] == "health_status: healthy"
    )


def test_comfyui_and_the_model_download_come_before_open_webui(stack: Stack) -> None:
    containers = stack.containers()
    fetcher, comfyui, open_webui = (
        containers[name] for name in ("model-fetcher", "comfyui", "open-webui")
    )

    assert fetcher["State"]["Status"] == "exited" and fetcher["State"]["ExitCode"] == 0
    assert datetime.fromisoformat(fetcher["State"]["FinishedAt"]) < started_at(open_webui)
    assert comfyui["State"]["Health"]["Status"] == "healthy"
    assert became_healthy(comfyui) < started_at(open_webui)


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


@dataclass(frozen=True)
class Generated:
    events: list[dict[str, Any]]
    image: Image.Image


@pytest.fixture(scope="module")
def generated(http: httpx.Client, admin: Account) -> Generated:
    """One image generated through the published port, as its owner downloads it."""
    return asyncio.run(generate(str(http.base_url).rstrip("/"), admin))


async def generate(url: str, admin: Account) -> Generated:
    async with (
        JobEvents(url, admin, wait=GENERATION_WAIT) as events,
        httpx.AsyncClient(base_url=url, timeout=30) as api,
    ):
        response = await api.post(f"{API}/generate", headers=admin.headers, json=GENERATE)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        seen = await events.wait_for(job_id, lambda event: event["state"] in FINISHED)
        assert seen[-1]["state"] == "completed", seen[-1]

        [file_id] = seen[-1]["output_file_ids"]
        stored = await api.get(f"/api/v1/files/{file_id}/content", headers=admin.headers)
    assert stored.status_code == 200
    return Generated(seen, Image.open(io.BytesIO(stored.content)))


def test_a_generation_reports_progress_and_stores_the_image(generated: Generated) -> None:
    assert any(0 < event["percent"] < 100 for event in generated.events), generated.events
    assert generated.image.format == "PNG"
    assert generated.image.size == (GENERATE["width"], GENERATE["height"])


@pytest.mark.real_comfyui
def test_the_image_comes_from_comfyui_built_from_its_dockerfile(
    stack: Stack, generated: Generated
) -> None:
    comfyui = stack.containers()["comfyui"]
    stats = engine.docker(
        "exec", comfyui["Id"], "python", "-c",
        "import urllib.request as r; print(r.urlopen('http://127.0.0.1:8188/system_stats').read().decode())",
    )  # fmt: skip
    # ComfyUI's SaveImage writes the prompt graph it ran into the PNG; the double does not
    ran = json.loads(generated.image.info["prompt"])

    assert comfyui["Config"]["Image"] == REAL_COMFYUI_IMAGE
    assert json.loads(stats.stdout)["system"]["comfyui_version"] == "0.33.0"
    assert GENERATE["prompt"] in [node["inputs"].get("text") for node in ran.values()]


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
