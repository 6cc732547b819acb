"""The images: lint-clean, pinned, and every command they run exists in them."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deploy import compose
from deploy.dockerfile import BASE_IMAGE_PROGRAMS, Dockerfile, ignored, parse
from deploy.model_server import running_model_server

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    # compose image name -> (Dockerfile, build context), as docker-compose.yaml builds them
    "comfyui-pipe/open-webui:latest": (ROOT / "docker/open-webui/Dockerfile", ROOT),
    "comfyui-pipe/comfyui:cpu": (ROOT / "docker/comfyui/Dockerfile", ROOT / "docker"),
}
PATH_DIRS = ("/usr/local/bin", "/usr/bin", "/bin")


def dockerfiles() -> dict[str, Dockerfile]:
    return {image: parse(path, context) for image, (path, context) in IMAGES.items()}


def venv_program(name: str) -> str:
    program = shutil.which(name, path=str(Path(sys.executable).parent))
    assert program, f"{name} is part of the test dependencies"
    return program


def programs_in(image: Dockerfile) -> dict[str, Path | None]:
    """Program name -> the repository file it was copied from (None: from the base or pip)."""
    programs: dict[str, Path | None] = dict.fromkeys(BASE_IMAGE_PROGRAMS[image.base_image])
    for copy in image.copies:
        folder, _, name = copy.destination.rpartition("/")
        if folder in PATH_DIRS and copy.chmod == "755":
            programs[name] = image.context / copy.sources[0]
    if any("pip install" in run and "/opt/comfyui-pipe" in run for run in image.runs):
        scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
        programs.update(dict.fromkeys(scripts))
    return programs


def assert_runs_in(argv: list[str], image: Dockerfile) -> None:
    programs = programs_in(image)
    assert argv[0] in programs, f"{argv[0]} is not in {image.path.relative_to(ROOT)}"
    if argv[0] in ("python", "python3") and argv[1] == "-m":
        assert importlib.util.find_spec(argv[2]) is not None, argv[2]
    if argv[0] == "comfyui-pipe":
        scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
        module = scripts["comfyui-pipe"].partition(":")[0]
        assert importlib.util.find_spec(module) is not None, f"{module} (console script)"
    script = programs[argv[0]]
    if script is not None:
        shebang = script.read_text().splitlines()[0].removeprefix("#!").split()
        interpreter = shebang[-1].rpartition("/")[2]
        assert interpreter in programs, f"{script.name} needs {interpreter}"
        for line in script.read_text().splitlines():
            if line.strip().startswith("exec "):
                assert line.split()[1] in programs, line


def test_the_dockerfiles_pass_hadolint():
    paths = [str(path) for path, _ in IMAGES.values()]
    result = subprocess.run(
        [venv_program("hadolint"), *paths], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_health_check_entrypoint_and_command_exists_in_its_image():
    images = dockerfiles()
    for image in images.values():
        assert_runs_in(image.healthcheck, image)
        assert_runs_in(image.entrypoint or image.cmd, image)
    for service in compose.load(ROOT / "docker-compose.yaml")["services"].values():
        image = images[service["image"]]
        argv = service.get("entrypoint") or image.entrypoint or image.cmd
        assert_runs_in(argv, image)
        if not service["healthcheck"].get("disable"):
            assert_runs_in(service["healthcheck"]["test"][1:], image)


def test_the_build_contexts_send_every_file_the_dockerfiles_copy():
    for image in dockerfiles().values():
        ignore_file = image.path.with_name(image.path.name + ".dockerignore")
        for copy in image.copies:
            for source in copy.sources:
                if source.startswith("http"):
                    continue
                assert (image.context / source).exists(), source
                assert not ignored(source, ignore_file), f"{source} is in {ignore_file.name}"
        assert ignored(".venv/bin/python", ignore_file)


def test_the_images_are_pinned_and_comfyui_runs_unprivileged():
    open_webui = dockerfiles()["comfyui-pipe/open-webui:latest"]
    comfyui = dockerfiles()["comfyui-pipe/comfyui:cpu"]

    assert open_webui.base_image.startswith("ghcr.io/open-webui/open-webui:v0.12.")
    assert comfyui.args["COMFYUI_VERSION"].startswith("v0.")
    assert comfyui.args["COMFYUI_SOURCE"].endswith(f"/{comfyui.args['COMFYUI_VERSION']}.tar.gz")
    assert comfyui.args["COMFY_TORCH_VARIANT"] == "cpu"
    assert comfyui.user not in ("root", "0", "0:0")
    assert set(comfyui.volumes) == {
        f"/opt/comfyui/{folder}" for folder in ("models", "input", "output", "user")
    }


# --- the scripts the images run --------------------------------------------------------------


def run_entrypoint(tmp_path: Path, variant: str, *args: str) -> list[str]:
    fake_python = tmp_path / "python"
    fake_python.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake_python.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "COMFY_TORCH_VARIANT": variant}
    result = subprocess.run(
        ["sh", str(ROOT / "docker/comfyui/entrypoint.sh"), *args],
        capture_output=True, text=True, env=env, timeout=10, check=True,
    )  # fmt: skip
    return result.stdout.splitlines()


def test_comfyui_listens_on_the_network_with_previews_and_cpu_only_on_the_cpu_build(tmp_path):
    on_cpu = run_entrypoint(tmp_path, "cpu", "--lowvram")
    on_gpu = run_entrypoint(tmp_path, "cuda")

    assert on_gpu == [
        "main.py",
        "--listen",
        "0.0.0.0",
        "--port",
        "8188",
        "--preview-method",
        "auto",
    ]
    assert on_cpu == [*on_gpu, "--cpu", "--lowvram"]


@pytest.fixture
def healthcheck():
    def run(url: str) -> int:
        command = [sys.executable, str(ROOT / "docker/healthcheck.py"), url, "2"]
        return subprocess.run(command, capture_output=True, timeout=10).returncode

    return run


def test_the_health_check_passes_on_2xx_and_fails_otherwise(healthcheck):
    with running_model_server() as server:
        server.files["/system_stats"] = b"{}"
        assert healthcheck(server.url("/system_stats")) == 0
        assert healthcheck(server.url("/missing")) == 1
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert healthcheck(f"http://127.0.0.1:{closed}/health") == 1
