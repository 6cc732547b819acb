"""One real ComfyUI process on a loopback port that stays the same across restarts.

A test may ``kill()`` it (SIGKILL, as a crash) or ``stop()`` it and ``start()`` it
again: the port, the output folder and the database stay, the queue, history and
caches (memory) do not — as with a ComfyUI restarted in production.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from comfyui_real.kit import KitEnvironment

READY_TIMEOUT = 120.0
"""Seconds a start may take: ~7 s on a quiet machine, several times that on a busy one."""
STOP_TIMEOUT = 30.0
LOG_TAIL_CHARS = 4000


class ComfyUIStartFailed(RuntimeError):
    pass


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RealComfyUI:
    """``with RealComfyUI(env) as comfyui:`` a started server at ``comfyui.url``."""

    def __init__(self, env: KitEnvironment, port: int | None = None) -> None:
        self.env = env
        self.port = port or free_loopback_port()
        self.run_dir = Path(tempfile.mkdtemp(prefix="comfyui-real-"))
        # the input folder starts as a stock server's does (ComfyUI ships an example.png)
        shutil.copytree(env.comfyui / "input", self.run_dir / "input")
        self.log_path = self.run_dir / "comfyui.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0
        """How many times this server was started (a restart clears its memory)."""
        self.last_start_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> RealComfyUI:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start the process and wait until it answers ``GET /system_stats``."""
        if self.running:
            raise RuntimeError("ComfyUI is already running")
        user_dir = self.run_dir / "user"
        user_dir.mkdir(exist_ok=True)
        self._log = self.log_path.open("ab")
        started = time.monotonic()
        self._process = subprocess.Popen(
            [str(self.env.python), "main.py", *self._arguments(user_dir)],
            cwd=self.env.comfyui,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.starts += 1
        try:
            self._wait_ready(started + timeout)
        except BaseException:
            self.kill()
            raise
        self.last_start_seconds = time.monotonic() - started

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop it as Ctrl-C does (SIGINT), killing it if it does not end in ``timeout``."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._forget_process()

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill: nothing is cleaned up."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(STOP_TIMEOUT)
        self._forget_process()

    def restart(self, *, stock_input: bool = False) -> None:
        """Stop and start again; ``stock_input``: with the input folder as a stock server's
        (what earlier tests uploaded taken out)."""
        self.stop()
        if stock_input:
            shutil.rmtree(self.run_dir / "input")
            shutil.copytree(self.env.comfyui / "input", self.run_dir / "input")
        self.start()

    def get(self, path: str, timeout: float = 30.0) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return json.loads(response.read())

    def post(self, path: str, body: Any, timeout: float = 30.0) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def is_idle(self) -> bool:
        queue = self.get("/queue")
        return not queue["queue_running"] and not queue["queue_pending"]

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_idle():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the real ComfyUI was still busy after {timeout} s")
            time.sleep(0.1)

    def clear(self) -> None:
        """Drop whatever is pending and interrupt whatever runs."""
        self.post("/queue", {"clear": True})
        self.post("/interrupt", {})

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""

    def _arguments(self, user_dir: Path) -> list[str]:
        return [
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--disable-auto-launch",
            "--preview-method",
            "auto",
            "--disable-api-nodes",
            "--output-directory",
            str(self.run_dir / "output"),
            "--input-directory",
            str(self.run_dir / "input"),
            "--temp-directory",
            str(self.run_dir),
            "--user-directory",
            str(user_dir),
            "--database-url",
            f"sqlite:///{self.run_dir / 'comfyui.db'}",
        ]

    def _wait_ready(self, deadline: float) -> None:
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise ComfyUIStartFailed(
                    f"ComfyUI exited with {self._process.returncode} while starting:\n"
                    + self.log_tail()
                )
            try:
                self.get("/system_stats", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise ComfyUIStartFailed("ComfyUI did not answer in time:\n" + self.log_tail())
            time.sleep(0.2)

    def _forget_process(self) -> None:
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
