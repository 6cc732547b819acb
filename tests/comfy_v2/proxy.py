"""The real ``comfy-api-proxy`` (PyPI, by Comfy Org: the Comfy API v2 in front of a
self-hosted ComfyUI) as a process in front of a ComfyUI — the double or a real one —
and a TCP forwarder in front of it that can drop a submit's answer.

``ApiProxy(comfyui_url, token=...)`` starts ``comfy-api-proxy --comfyui <url>`` on a free
loopback port and waits for its health route; leaving stops it. ``AnswerDropper`` passes
bytes both ways and, when told to, lets one ``POST /api/v2/jobs`` reach the proxy,
waits for its answer and closes the client's connection without passing it on: the
client sent a submit that ran and never heard back.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PROXY = Path(sys.executable).with_name("comfy-api-proxy")
STARTUP_TIMEOUT = 30.0
SUBMIT = b"POST /api/v2/jobs "


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ApiProxy:
    def __init__(self, comfyui_url: str, token: str | None = None) -> None:
        self.comfyui_url = comfyui_url
        self.token = token
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def entry(self) -> str:
        """The proxy as a server entry of the settings."""
        return "comfy-v2+" + self.url

    async def __aenter__(self) -> ApiProxy:
        self.start()
        await asyncio.to_thread(self.wait_ready)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    def __enter__(self) -> ApiProxy:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        executable = str(PROXY) if PROXY.exists() else shutil.which("comfy-api-proxy")
        assert executable, "comfy-api-proxy is not installed (scripts/test installs it)"
        command = [executable, "--comfyui", self.comfyui_url, "--port", str(self.port)]
        if self.token:
            command += ["--token", self.token]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None and self._process.poll() is None, "proxy exited"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/api/v2/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"comfy-api-proxy did not start within {STARTUP_TIMEOUT} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class AnswerDropper:
    """A loopback forwarder to ``target``; ``drop_next_submit()`` arms it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.dropped = 0
        self._armed = False
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def drop_next_submit(self) -> None:
        self._armed = True

    async def __aenter__(self) -> AnswerDropper:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _connection(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        upstream_in, upstream_out = await asyncio.open_connection("127.0.0.1", self.target_port)
        dropping = asyncio.Event()
        try:
            await asyncio.gather(
                self._requests(client_in, upstream_out, dropping),
                self._answers(upstream_in, client_out, dropping),
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_out, upstream_out):
                writer.close()

    async def _requests(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, dropping: asyncio.Event
    ) -> None:
        while chunk := await source.read(65536):
            if self._armed and chunk.startswith(SUBMIT):
                self._armed = False
                dropping.set()
            sink.write(chunk)
            await sink.drain()
        sink.close()

    async def _answers(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, dropping: asyncio.Event
    ) -> None:
        while chunk := await source.read(65536):
            if dropping.is_set():
                self.dropped += 1
                sink.transport.abort()  # the submit ran; its answer never arrives
                return
            sink.write(chunk)
            await sink.drain()
        sink.close()
