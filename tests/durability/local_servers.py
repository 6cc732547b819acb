"""Throwaway PostgreSQL and Redis servers for tests: Debian's server binaries (which
``scripts/test`` installs when run as root), on 127.0.0.1, data in a temporary folder,
stopped and removed at the end."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# initdb refuses to run as root: as root the cluster belongs to this account.
_CLUSTER_USER = "nobody"
_COMMAND_TIMEOUT_S = 60
_REDIS_START_TIMEOUT_S = 15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_bin_dir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).resolve().parent
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return installed[-1].parent if installed else None


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A running cluster, as the URL Open WebUI's ``DATABASE_URL`` takes (the psycopg
    driver named: Open WebUI's synchronous engine would otherwise ask for psycopg2,
    which it does not install). Skips the test when the binaries are missing."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; "
            "scripts/test installs Debian's postgresql package when run as root"
        )
    as_cluster_user = ["runuser", "-u", _CLUSTER_USER, "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="comfyui-pipe-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(root, user=_CLUSTER_USER)
    data_dir, port = root / "data", free_port()

    def run(*command: str) -> None:
        done = subprocess.run(
            [*as_cluster_user, *command],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT_S,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{done.stdout}{done.stderr}")

    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data_dir)]
    try:
        run(str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust",
            "--no-locale", "-E", "UTF8", "--no-sync")  # fmt: skip
        # -l: the server's output goes to a file, not into the pipe run() reads.
        run(*pg_ctl, "-o", f"-p {port} -k {root} -h 127.0.0.1 -F",
            "-l", str(root / "server.log"), "-w", "-t", "30", "start")  # fmt: skip
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(*pg_ctl, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """A running Redis without persistence, as a ``REDIS_URL``. Skips the test when
    ``redis-server`` is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "redis-server not found; scripts/test installs Debian's redis-server package "
            "when run as root"
        )
    root = Path(tempfile.mkdtemp(prefix="comfyui-pipe-redis-"))
    port = free_port()
    log = (root / "server.log").open("wb")
    options = {"bind": "127.0.0.1", "port": str(port), "dir": str(root), "save": ""}
    process = subprocess.Popen(
        [binary, *(part for name, value in options.items() for part in (f"--{name}", value))],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + _REDIS_START_TIMEOUT_S
        while not _answers_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                output = (root / "server.log").read_text()
                raise RuntimeError(f"redis-server did not start:\n{output}")
            time.sleep(0.05)  # another process: nothing to await
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(_COMMAND_TIMEOUT_S)
        shutil.rmtree(root, ignore_errors=True)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False
