"""ComfyDouble: the aiohttp server, its queue and its single worker."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web
from PIL import Image

from .executor import OutputCache, PromptRun, Workspace, now_ms
from .faults import Faults
from .memory import ModelMemory
from .routes import Routes
from .schema import build_object_info
from .sockets import SocketHub
from .validation import validate_prompt
from .versions import VERSIONS

QueueEntry = tuple[float, str, dict[str, Any], dict[str, Any], list[str]]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    """Without the /api prefix."""
    query: dict[str, str]
    json: Any
    headers: dict[str, str]


@dataclass
class JobTimes:
    started: int | None = None
    ended: int | None = None


@dataclass
class ServerState:
    """Everything a restart forgets."""

    pending: list[QueueEntry] = field(default_factory=list)
    running: QueueEntry | None = None
    history: dict[str, dict[str, Any]] = field(default_factory=dict)
    times: dict[str, JobTimes] = field(default_factory=dict)
    cache: OutputCache = field(default_factory=OutputCache)
    number: int = 0
    interrupt_requested: bool = False


class ComfyDouble:
    """A ComfyUI server on 127.0.0.1 that behaves like a recorded release: ``version`` "0.8"
    (v0.8.0, the default) or "0.33" (v0.33.0). ``jobs_api=False`` makes it a server older
    than the jobs API (before v0.6). ``load_seconds``: what loading a checkpoint it does
    not hold takes; ``model_memory``: how many it holds at most (see ``memory``)."""

    def __init__(
        self,
        step_seconds: float = 0.01,
        models: dict[str, list[str]] | None = None,
        jobs_api: bool = True,
        version: str = "0.8",
        load_seconds: float = 0.0,
        model_memory: int | None = None,
        models_dir: Path | None = None,
    ) -> None:
        self.version = VERSIONS[version]
        self.step_seconds = step_seconds
        self.memory = ModelMemory(load_seconds, model_memory)
        self.models = {folder: list(names) for folder, names in (models or {}).items()}
        self.models_dir = models_dir
        """Like ComfyUI's models folder: files put in its folders are offered at once."""
        self._object_info_cache: tuple[Any, dict[str, Any]] | None = None
        self.jobs_api = jobs_api
        self.faults = Faults(_drop=self._drop_sockets)
        self.requests: list[RecordedRequest] = []
        self.ws_handshakes: list[RecordedRequest] = []
        self.prompts_received: list[dict[str, Any]] = []
        self.uploaded: dict[str, bytes] = {}
        self.state = ServerState()
        self._hub = SocketHub(self.faults, self.queue_info, self.version.features)
        self._changed = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._port = 0

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> ComfyDouble:
        self._tempdir = tempfile.TemporaryDirectory(prefix="comfy-double-")
        root = Path(self._tempdir.name)
        self.workspace = Workspace(root / "input", root / "output", root / "temp")
        for folder in (
            self.workspace.input_dir,
            self.workspace.output_dir,
            self.workspace.temp_dir,
        ):
            folder.mkdir()
        Image.new("RGB", (64, 64), "white").save(self.workspace.input_dir / "example.png")
        app = web.Application(
            middlewares=[self._record_and_inject_faults], client_max_size=100 * 2**20
        )
        Routes(self).register(app)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        self._port = self._runner.addresses[0][1]
        self._worker = asyncio.create_task(self._work())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop_worker()
        await self._hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    async def restart(self, down_for: float = 0.0) -> None:
        """Like a server restart: queue, history, cache and number counter are gone, sockets
        closed, temp/ wiped; the port, input/ and output/ stay. With ``down_for``, like a
        crash: every connection is closed and nothing listens for that many seconds."""
        await self._stop_worker()
        await self._hub.close_all()
        if down_for > 0:
            await self._stop_listening()
        self.state = ServerState()
        self.memory.forget()
        shutil.rmtree(self.workspace.temp_dir)
        self.workspace.temp_dir.mkdir()
        if down_for > 0:
            await asyncio.sleep(down_for)
            await self._listen_again()
        self._worker = asyncio.create_task(self._work())

    async def restart_mid_job(self, down_for: float = 0.0, wait: float = 5.0) -> bool:
        """A restart (see :meth:`restart`) while a prompt runs, once it has stepped: waits
        up to ``wait`` seconds for one; whether one was running when it restarted."""

        async def one_running() -> None:
            while self.state.running is None:
                self._changed.clear()
                await self._changed.wait()

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(one_running(), wait)
        running = self.state.running is not None
        if running:
            await asyncio.sleep(self.step_seconds * 1.5)
        await self.restart(down_for)
        return running

    async def _stop_listening(self) -> None:
        assert self._runner is not None and self._runner.server is not None
        if self._site is not None:
            await self._site.stop()
        await self._runner.server.shutdown(0.1)

    async def _listen_again(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_address=True)
        await self._site.start()

    async def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    # --- what tests look at ------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def ws_connections(self) -> int:
        return self._hub.connections

    @property
    def history(self) -> dict[str, dict[str, Any]]:
        return self.state.history

    @property
    def queue_pending(self) -> list[list[Any]]:
        """Raw heap order, as GET /queue answers."""
        return [list(entry) for entry in self.state.pending]

    @property
    def running(self) -> list[Any] | None:
        return list(self.state.running) if self.state.running else None

    async def wait_idle(self, timeout: float = 5) -> None:  # noqa: ASYNC109 (the agreed API)
        async def idle() -> None:
            while self.state.pending or self.state.running:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(idle(), timeout)

    # --- queue -------------------------------------------------------------------------

    def queue_info(self) -> dict[str, Any]:
        remaining = len(self.state.pending) + (1 if self.state.running else 0)
        return {"exec_info": {"queue_remaining": remaining}}

    async def broadcast_status(self) -> None:
        self._changed.set()
        await self._hub.send("status", {"status": self.queue_info()})

    def object_info(self) -> dict[str, Any]:
        input_files = sorted(
            path.relative_to(self.workspace.input_dir).as_posix()
            for path in self.workspace.input_dir.rglob("*")
            if path.is_file()
        )
        # Building it deep-copies the recorded schema (~0.1 s): rebuild only when
        # the installed models or the input files change.
        models = self.installed_models()
        key = (repr(sorted(models.items())), tuple(input_files))
        if self._object_info_cache is None or self._object_info_cache[0] != key:
            info = build_object_info(self.version.object_info_path, models, input_files)
            self._object_info_cache = (key, info)
        return self._object_info_cache[1]

    def installed_models(self) -> dict[str, list[str]]:
        """``models``, and the files in ``models_dir``'s folders (``.part`` files left out,
        as a download in progress is not a model yet)."""
        if self.models_dir is None:
            return self.models
        installed = {folder: list(names) for folder, names in self.models.items()}
        for folder in sorted(self.models_dir.iterdir()):
            if folder.is_dir():
                names = installed.setdefault(folder.name, [])
                for path in sorted(folder.rglob("*")):
                    name = path.relative_to(folder).as_posix()
                    if path.is_file() and not name.endswith(".part") and name not in names:
                        names.append(name)
        return installed

    async def submit(self, body: dict[str, Any]) -> web.Response:
        self.prompts_received.append(body)
        if "number" in body:
            number: float = float(body["number"])
        else:
            number = -self.state.number if body.get("front") else self.state.number
            self.state.number += 1
        if "prompt" not in body:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
            }
            return web.json_response(
                {"error": {**error, "extra_info": {}}, "node_errors": {}}, status=400
            )
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        if self.version.strict_prompt_id and not _is_canonical_uuid(prompt_id):
            error = {
                "type": "invalid_prompt_id",
                "message": "prompt_id must be a valid UUID",
                "details": "prompt_id must be a UUID string in canonical lowercase hyphenated"
                " form; omit it to let the server generate one",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = body["prompt"]
        verdict = validate_prompt(
            prompt,
            self.object_info(),
            self._input_file_exists,
            missing_node_type=self.version.missing_node_type_error,
        )
        if verdict.rejected:
            return web.json_response(
                {"error": verdict.error, "node_errors": verdict.node_errors}, status=400
            )
        extra_data = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        extra_data["create_time"] = now_ms()
        heapq.heappush(self.state.pending, (number, prompt_id, prompt, extra_data, verdict.outputs))
        await self.broadcast_status()
        return web.json_response(
            {"prompt_id": prompt_id, "number": number, "node_errors": verdict.node_errors}
        )

    def _input_file_exists(self, name: str) -> bool:
        path = (self.workspace.input_dir / name).resolve()
        return path.is_relative_to(self.workspace.input_dir.resolve()) and path.is_file()

    async def delete_pending(self, matches: Callable[[QueueEntry], bool]) -> bool:
        kept = [entry for entry in self.state.pending if not matches(entry)]
        if len(kept) == len(self.state.pending):
            return False
        heapq.heapify(kept)
        self.state.pending = kept
        await self.broadcast_status()
        return True

    def interrupt(self, prompt_id: str | None) -> bool:
        running = self.state.running
        if running is None or (prompt_id is not None and running[1] != prompt_id):
            return False
        self.state.interrupt_requested = True
        return True

    async def _work(self) -> None:
        while True:
            while not self.state.pending:
                self._changed.clear()
                await self._changed.wait()
            entry = heapq.heappop(self.state.pending)
            self.state.running = entry
            await self._run(entry)

    async def _run(self, entry: QueueEntry) -> None:
        number, prompt_id, prompt, extra_data, outputs = entry
        client_id = extra_data.get("client_id")
        times = self.state.times.setdefault(prompt_id, JobTimes())
        await self.broadcast_status()
        times.started = now_ms()
        self.state.interrupt_requested = False
        run = PromptRun(
            prompt_id=prompt_id,
            prompt=prompt,
            client_id=client_id,
            outputs=outputs,
            object_info=self.object_info(),
            cache=self.state.cache,
            hub=self._hub,
            faults=self.faults,
            workspace=self.workspace,
            step_seconds=self.step_seconds,
            interrupted=lambda: self.state.interrupt_requested,
            memory=self.memory,
        )
        outcome = await run.execute()
        times.ended = now_ms()
        self.state.history[prompt_id] = {
            "prompt": [number, prompt_id, prompt, extra_data, outputs],
            "outputs": outcome.outputs,
            "status": {
                "status_str": outcome.status_str,
                "completed": outcome.status_str == "success",
                "messages": outcome.messages,
            },
            "meta": outcome.meta,
        }
        self.state.running = None
        await self.broadcast_status()
        if client_id is not None:
            await self._hub.send("executing", {"node": None, "prompt_id": prompt_id}, client_id)
        self._changed.set()

    # --- sockets and HTTP plumbing -----------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        self.ws_handshakes.append(_record(request, None))
        return await self._hub.handle(request)

    def _drop_sockets(self) -> None:
        self._hub.drop_all()

    @web.middleware
    async def _record_and_inject_faults(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = _without_api_prefix(request.path)
        if path != "/ws":
            body = None
            if request.body_exists and request.content_type == "application/json":
                try:
                    body = json.loads(await request.text())
                except ValueError:
                    body = None
            self.requests.append(_record(request, body))
        if delay := self.faults.route_delay(path):
            await asyncio.sleep(delay)
        if status := self.faults.route_status(path):
            return web.Response(status=status, text=f"{status}: injected fault")
        return await handler(request)


def _record(request: web.Request, body: Any) -> RecordedRequest:
    return RecordedRequest(
        method=request.method,
        path=_without_api_prefix(request.path),
        query=dict(request.query),
        json=body,
        headers=dict(request.headers),
    )


def _without_api_prefix(path: str) -> str:
    return path[4:] if path.startswith("/api/") else path


def _is_canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
