"""The Docker engine and `docker compose`, driven from the stack test.

The stand-in base images (stack/*.Dockerfile) replace what no registry serves
here; everything else is built and run from the repository's own files. What
docker/comfyui/Dockerfile fetches from GitHub and PyTorch's index comes from the
real ComfyUI kit and the host's CPU torch, served on the loopback (`served`).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = Path(__file__).resolve().parent / "stack"
DEBIAN_IMAGE = "comfyui-pipe-test/debian:bookworm"
PYTHON_IMAGE = "comfyui-pipe-test/python:3.11-slim-bookworm"
OPEN_WEBUI_BASE_IMAGE = "comfyui-pipe-test/open-webui-base"
# scripts/test passes the mirror apt uses on this machine.
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR") or "http://deb.debian.org/debian"
TORCH_REQUIREMENT = "torch==2.13.0"  # the CPU build, as scripts/test installs it
BUILD_TIMEOUT = 900
COMMAND_TIMEOUT = 300


class EngineError(Exception):
    pass


def docker(*args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True, **options: Any):
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, **options
    )
    if check and result.returncode != 0:
        raise EngineError(f"docker {' '.join(args)}: exit {result.returncode}\n{result.stderr}")
    return result


def unavailable_reason() -> str | None:
    """Why the stack cannot be built and run here, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker client (scripts/test installs Debian's docker.io when run as root)"
    for command, what in (
        (["info", "--format", "{{.ServerVersion}}"], "no Docker engine answers"),
        (["compose", "version"], "the docker compose v2 plugin is missing"),
        (["buildx", "version"], "the docker buildx plugin is missing"),
    ):
        result = docker(*command, check=False, timeout=30)
        if result.returncode != 0:
            last_line = (result.stderr.strip().splitlines() or ["no message"])[-1]
            return f"{what}: {last_line}"
    if shutil.which("debootstrap") is None:
        return "debootstrap is missing (it makes the Debian base image offline)"
    return None


def build_base_images(downloads: Path) -> None:
    """The Debian image made offline, the Python stand-in on it, the Open WebUI stand-in
    base on that; the CPU torch wheel they install is left in ``downloads``."""
    _download_cpu_torch(downloads)
    with tempfile.TemporaryDirectory(prefix="stack-base-") as scratch:
        work = Path(scratch)
        _import_debian(work / "rootfs")
        context = work / "context"
        context.mkdir()
        shutil.copyfile(_host_ca_bundle(), context / "ca.crt")
        _build_stand_in(PYTHON_IMAGE, "python-base.Dockerfile", context, DEBIAN_IMAGE=DEBIAN_IMAGE)
    _build_stand_in(
        OPEN_WEBUI_BASE_IMAGE, "open-webui-base.Dockerfile", downloads, PYTHON_IMAGE=PYTHON_IMAGE
    )


def _build_stand_in(tag: str, dockerfile: str, context: Path, **args: str) -> None:
    arguments = [
        word for name, value in args.items() for word in ("--build-arg", f"{name}={value}")
    ]
    docker(
        "build", "--tag", tag, *arguments, "--file", str(STACK_DIR / dockerfile), str(context),
        timeout=BUILD_TIMEOUT,
    )  # fmt: skip


def remove_base_images() -> None:
    docker("image", "rm", OPEN_WEBUI_BASE_IMAGE, PYTHON_IMAGE, DEBIAN_IMAGE, check=False)


def cpu_torch_wheel(downloads: Path) -> Path:
    [wheel] = downloads.glob("torch-*.whl")
    return wheel


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on the host's loopback, as a base URL: the engine itself fetches a
    Dockerfile's ADD URLs, and a build on the host's network reaches it from its RUN steps."""
    handler = partial(_QuietFileHandler, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join()


class _QuietFileHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _import_debian(rootfs: Path) -> None:
    subprocess.run(
        ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR],
        check=True, capture_output=True, timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    docker("import", "-", DEBIAN_IMAGE, stdin=tar.stdout)
    if tar.wait() != 0:
        raise EngineError(f"tar of {rootfs} failed")
    shutil.rmtree(rootfs)


def _download_cpu_torch(folder: Path) -> None:
    # The host's pip configuration knows where the CPU build lies.
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--dest", str(folder), TORCH_REQUIREMENT],
        check=True, capture_output=True, timeout=BUILD_TIMEOUT,
    )  # fmt: skip


def _host_ca_bundle() -> str:
    """The CA bundle the host's pip trusts, so builds can reach PyPI the same way."""
    return os.environ.get("PIP_CERT") or ssl.get_default_verify_paths().openssl_cafile


@dataclass
class Stack:
    """One compose project from the repository's compose files plus test overrides."""

    project: str
    files: list[Path]
    environ: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True):
        arguments = ["compose", "--project-name", self.project, "--project-directory", str(ROOT)]
        for path in self.files:
            arguments += ["--file", str(path)]
        environ = {**os.environ, **self.environ}
        return docker(*arguments, *args, timeout=timeout, check=check, env=environ, cwd=ROOT)

    def containers(self) -> dict[str, dict[str, Any]]:
        """Service name -> `docker inspect` of its container, stopped ones included."""
        ids = self.compose("ps", "--all", "--quiet").stdout.split()
        if not ids:
            return {}
        inspected = json.loads(docker("inspect", *ids).stdout)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in inspected}

    def wait_healthy(self, service: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            container = self.containers().get(service, {})
            state = container.get("State", {})
            if state.get("Health", {}).get("Status") == "healthy":
                return
            crashed = state.get("Status") == "exited" or container.get("RestartCount")
            if crashed or time.monotonic() > deadline:
                logs = self.compose("logs", "--no-color", "--tail", "60", check=False)
                raise EngineError(f"{service} is not healthy: {state}\n{logs.stdout}")
            time.sleep(2)
