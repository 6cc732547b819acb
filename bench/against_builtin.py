"""Open WebUI's built-in ComfyUI path against ours, inside one Open WebUI process.

    .venv/bin/python bench/against_builtin.py [--repeats 3] [--skip-progress]

One real Open WebUI (our ASGI app: Open WebUI plus the plugin) runs in a child
process, so its CPU time and peak RSS are its own; the ComfyUI doubles and the
clients run here. Both ways use the same workflow and node mapping on the same
double:

- **built-in**: ``POST /api/v1/images/generations`` with Open WebUI's ComfyUI engine
  configured against the double (it answers when the images are stored);
- **ours**: ``POST /api/v1/comfyui/generate`` (202 at once), the job followed to its
  end through ``comfyui:job`` events on a python-socketio client.

Runs are interleaved (ours, built-in, ours, …) and every number is compared as a
ratio within the same run. Database writes are counted by SQLite triggers on every
table of Open WebUI's database.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from comfyui_double.executor import PromptRun  # noqa: E402
from comfyui_double.graphs import empty_image_prompt  # noqa: E402
from openwebui.harness import (  # noqa: E402
    PASSWORD,
    ThreadedDouble,
    free_port,
    open_webui_environment,
)

API = "/api/v1/comfyui"
TXT2IMG = json.loads((ROOT / "tests/fixtures/traces/workflows/e_txt2img_sdrand.json").read_text())
MODELS = {"checkpoints": ["sdrand15.safetensors"]}
STARTUP_TIMEOUT = 180.0
RUN_TIMEOUT = 600.0
JOB_TABLE = "comfyui_pipe_job"
SINGLE_JOB_ROUNDS = 10


# -- the workloads: one graph and one node mapping for both ways -------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    workflow_id: str
    graph: dict[str, Any]
    mapping: list[dict[str, Any]]
    """Open WebUI's ``COMFYUI_WORKFLOW_NODES``; our upload takes the same list."""
    steps: int | None

    def size(self, index: int) -> tuple[int, int]:
        """A size of its own per job, so the double's cache never answers for one."""
        return 64 + 8 * (index % 100), 64 + 8 * (index // 100 % 100)


MODEL_FREE = Workload(
    "EmptyImage→SaveImage",
    "bench_empty",
    empty_image_prompt("bench"),
    [
        {"type": "width", "node_ids": ["1"], "key": "width"},
        {"type": "height", "node_ids": ["1"], "key": "height"},
    ],
    steps=None,
)
TXT2IMG_WORKLOAD = Workload(
    "txt2img (6 steps)",
    "bench_txt2img",
    TXT2IMG,
    [
        {"type": "prompt", "node_ids": ["6"], "key": "text"},
        {"type": "width", "node_ids": ["5"], "key": "width"},
        {"type": "height", "node_ids": ["5"], "key": "height"},
        {"type": "seed", "node_ids": ["3"], "key": "seed"},
        {"type": "steps", "node_ids": ["3"], "key": "steps"},
    ],
    steps=6,
)


# -- Open WebUI in a child process -------------------------------------------------------


class OpenWebUIProcess:
    """``uvicorn comfyui_pipe.openwebui.app:app`` with a fresh data directory."""

    def __init__(self, comfyui_url: str) -> None:
        self._data = Path(tempfile.mkdtemp(prefix="bench-open-webui-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {
            **os.environ,
            **open_webui_environment(self._data),
            "WEBUI_SECRET_KEY": secrets.token_urlsafe(24),
            "COMFYUI_URL": comfyui_url,
            "COMFYUI_JOBS_PER_USER": "1000",
        }
        self._log = (self._data / "server.log").open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "comfyui_pipe.openwebui.app:app",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=environment, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        self.pid = self._process.pid
        self.database = self._data / "webui.db"

    async def started(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with httpx.AsyncClient(base_url=self.url) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"Open WebUI exited; see {self._data / 'server.log'}")
                try:
                    if (await http.get("/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)
        raise RuntimeError("Open WebUI did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_peak_rss(self) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status)[1]) / 1024  # type: ignore[index]

    def stop(self) -> None:
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._log.close()


class WriteCounter:
    """SQLite triggers counting every INSERT, UPDATE and DELETE per table."""

    def __init__(self, database: Path) -> None:
        self._database = database
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS bench_writes (tbl TEXT PRIMARY KEY, n INTEGER)")
            tables = [
                row[0]
                for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if row[0] != "bench_writes" and not row[0].startswith("sqlite_")
            ]
            for table in tables:
                for action in ("INSERT", "UPDATE", "DELETE"):
                    db.execute(
                        f'CREATE TRIGGER IF NOT EXISTS "bench_{table}_{action}" AFTER {action} '
                        f"ON \"{table}\" BEGIN INSERT INTO bench_writes VALUES ('{table}', 1) "
                        "ON CONFLICT(tbl) DO UPDATE SET n = n + 1; END"
                    )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._database, timeout=30)

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            return dict(db.execute("SELECT tbl, n FROM bench_writes").fetchall())


# -- the clients -----------------------------------------------------------------------


@dataclass
class JobEvent:
    received_at: float
    data: dict[str, Any]


class Account:
    """A signed-in user with an HTTP client and a Socket.IO client in their room."""

    def __init__(self, url: str, token: str) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}
        self._token = token
        self._url = url
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
        self.http = httpx.AsyncClient(base_url=url, timeout=RUN_TIMEOUT, limits=limits)
        self.events: dict[str, list[JobEvent]] = {}
        self._ended: dict[str, asyncio.Future[None]] = {}
        self._socket = socketio.AsyncClient()
        self._socket.on("events", self._on_event)

    async def connect(self) -> None:
        await self._socket.connect(
            self._url, socketio_path="/ws/socket.io", transports=["websocket"],
            auth={"token": self._token}, wait_timeout=30,
        )  # fmt: skip

    async def close(self) -> None:
        await self._socket.disconnect()
        await self.http.aclose()

    async def _on_event(self, payload: dict[str, Any]) -> None:
        event = payload.get("data") or {}
        if event.get("type") != "comfyui:job":
            return
        data = event["data"]
        self.events.setdefault(data["id"], []).append(JobEvent(time.monotonic(), data))
        if data["state"] in ("completed", "failed", "cancelled"):
            ended = self._ended.setdefault(data["id"], asyncio.get_running_loop().create_future())
            if not ended.done():
                ended.set_result(None)

    async def ended(self, job_id: str) -> dict[str, Any]:
        future = self._ended.setdefault(job_id, asyncio.get_running_loop().create_future())
        await future
        return self.events[job_id][-1].data

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(path, headers=self.headers, json=body)
        if response.status_code >= 300:
            raise RuntimeError(f"{path}: {response.status_code} {response.text}")
        return response.json()  # type: ignore[no-any-return]


async def sign_up(url: str, name: str, email: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.post(
            "/api/v1/auths/signup", json={"name": name, "email": email, "password": PASSWORD}
        )
        response.raise_for_status()
        return str(response.json()["token"])


async def add_user(admin: Account, name: str, email: str) -> str:
    body = {"name": name, "email": email, "password": PASSWORD, "role": "user"}
    return str((await admin.post("/api/v1/auths/add", body))["token"])


async def configure_builtin(admin: Account, comfyui_url: str, workload: Workload) -> None:
    config = (await admin.http.get("/api/v1/images/config", headers=admin.headers)).json()
    config.update(
        ENABLE_IMAGE_GENERATION=True,
        IMAGE_GENERATION_ENGINE="comfyui",
        COMFYUI_BASE_URL=comfyui_url,
        COMFYUI_WORKFLOW=json.dumps(workload.graph),
        COMFYUI_WORKFLOW_NODES=workload.mapping,
        IMAGE_STEPS=workload.steps or 0,
    )
    await admin.post("/api/v1/images/config/update", config)


async def upload_workflow(admin: Account, workload: Workload) -> None:
    body = {
        "id": workload.workflow_id,
        "workflow": workload.graph,
        "meta": {"title": workload.name, "mapping": workload.mapping},
    }
    for _ in range(5):
        response = await admin.http.post(f"{API}/workflows", headers=admin.headers, json=body)
        if response.status_code in (201, 409):
            return
        # 500: the models Open WebUI publishes for the first admin may race this upload's
        await asyncio.sleep(1.0)
    raise RuntimeError(f"upload {workload.workflow_id}: {response.text}")


# -- one run ---------------------------------------------------------------------------


def prompt_text(tag: int) -> str:
    return f"bench job {tag}"


async def run_builtin(account: Account, workload: Workload, tags: Sequence[int]) -> None:
    async def one(tag: int) -> None:
        width, height = workload.size(tag)
        body = {"prompt": prompt_text(tag), "size": f"{width}x{height}", "n": 1}
        images = await account.post("/api/v1/images/generations", body)
        if not images:
            raise RuntimeError("built-in: no image")

    await asyncio.gather(*(one(tag) for tag in tags))


async def start_ours(account: Account, workload: Workload, tag: int) -> str:
    """``POST /generate``; the job's id."""
    width, height = workload.size(tag)
    body = {"workflow": workload.workflow_id, "prompt": prompt_text(tag),
            "width": width, "height": height}  # fmt: skip
    if any(field["type"] == "seed" for field in workload.mapping):
        body["seed"] = tag  # a workflow without a seed refuses one
    return str((await account.post(f"{API}/generate", body))["id"])


async def ours_to_the_end(account: Account, workload: Workload, tag: int) -> str:
    job_id = await start_ours(account, workload, tag)
    end = await account.ended(job_id)
    if end["state"] != "completed" or not end["output_file_ids"]:
        raise RuntimeError(f"ours: {end}")
    return job_id


async def run_ours(account: Account, workload: Workload, tags: Sequence[int]) -> None:
    await asyncio.gather(*(ours_to_the_end(account, workload, tag) for tag in tags))


Way = Callable[[Account, Workload, Sequence[int]], Awaitable[None]]
WAYS: dict[str, Way] = {"ours": run_ours, "built-in": run_builtin}


@dataclass(frozen=True)
class Measurement:
    wall_per_job_ms: float
    cpu_per_job_ms: float
    peak_rss_mib: float
    db_writes_per_job: float
    job_table_writes_per_job: float
    ws_connections: int
    http_requests_per_job: float
    queue_gets_per_job: float


@dataclass
class Bench:
    owui: OpenWebUIProcess
    comfy: ThreadedDouble
    writes: WriteCounter
    tags: Any = field(default_factory=lambda: iter(range(1, 10**9)))

    async def measure(
        self, way: Way, account: Account, workload: Workload, jobs: int, rounds: int = 1
    ) -> Measurement:
        """``rounds`` times ``jobs`` at once, one round after the other; per job."""
        batches = [[next(self.tags) for _ in range(jobs)] for _ in range(rounds)]
        jobs *= rounds
        double = self.comfy.double
        await asyncio.sleep(0.3)  # let the previous run's stragglers settle
        self.owui.reset_peak_rss()
        writes, requests = self.writes.counts(), len(double.requests)
        queue_gets = _queue_gets(double)
        sockets, cpu = double.ws_connections, self.owui.cpu_seconds()
        started = time.perf_counter()
        async with asyncio.timeout(RUN_TIMEOUT):
            for tags in batches:
                await way(account, workload, tags)
        wall = time.perf_counter() - started
        cpu = self.owui.cpu_seconds() - cpu
        after = self.writes.counts()
        db_writes = sum(after.values()) - sum(writes.values())
        job_writes = after.get(JOB_TABLE, 0) - writes.get(JOB_TABLE, 0)
        return Measurement(
            wall_per_job_ms=wall / jobs * 1000,
            cpu_per_job_ms=cpu / jobs * 1000,
            peak_rss_mib=self.owui.peak_rss_mib(),
            db_writes_per_job=db_writes / jobs,
            job_table_writes_per_job=job_writes / jobs,
            ws_connections=double.ws_connections - sockets,
            http_requests_per_job=(len(double.requests) - requests) / jobs,
            queue_gets_per_job=(_queue_gets(double) - queue_gets) / jobs,
        )


def _queue_gets(double: Any) -> int:
    return sum(1 for request in double.requests if request.path.endswith("/queue"))


def rounds_of(jobs: int) -> int:
    """Single jobs run ``SINGLE_JOB_ROUNDS`` times in a row: the CPU clock ticks in 10 ms."""
    return SINGLE_JOB_ROUNDS if jobs == 1 else 1


def median(measurements: Sequence[Measurement]) -> Measurement:
    def mid(name: str) -> Any:
        return statistics.median_low(getattr(m, name) for m in measurements)

    return Measurement(**{name: mid(name) for name in Measurement.__dataclass_fields__})


# -- progress latency and staleness -------------------------------------------------------


class FrameLog:
    """When the double sent each sampler step of each prompt (this process's clock)."""

    def __init__(self) -> None:
        self.sent: dict[tuple[int, int], float] = {}
        original = PromptRun._set_progress
        log = self

        async def recording(
            run: PromptRun, node_id: str, value: float, maximum: float, state: str
        ) -> None:
            if state == "running" and value >= 1 and maximum > 1:
                tag = _tag_of(run.prompt)
                if tag is not None:
                    log.sent.setdefault((tag, int(value)), time.monotonic())
            await original(run, node_id, value, maximum, state)

        PromptRun._set_progress = recording  # type: ignore[method-assign]


def _tag_of(prompt: dict[str, Any]) -> int | None:
    match = re.search(r"bench job (\d+)", json.dumps(prompt))
    return int(match[1]) if match else None


STALE_AFTER = 0.010
"""Seconds after ComfyUI sent a newer step from which an event showing an older one is
stale."""


@dataclass(frozen=True)
class ProgressMeasurement:
    in_flight: int
    events: int
    latency_p50_ms: float
    latency_p99_ms: float
    stale: int
    """Events received more than ``STALE_AFTER`` after ComfyUI sent a newer step."""
    missed_steps: int


async def measure_progress(
    bench: Bench, frames: FrameLog, account: Account, in_flight: int, step_seconds: float
) -> ProgressMeasurement:
    double = bench.comfy.double
    double.step_seconds = step_seconds
    tags = [next(bench.tags) for _ in range(in_flight)]
    # This process holds the double and the Socket.IO client: a pause of its own
    # garbage collector (0.1 s seen at 256 in flight) would count as late events.
    gc.collect()
    gc.disable()
    try:
        async with asyncio.timeout(RUN_TIMEOUT):  # every job submitted at once
            ids = await asyncio.gather(
                *(ours_to_the_end(account, TXT2IMG_WORKLOAD, t) for t in tags)
            )
    finally:
        gc.enable()
        double.step_seconds = 0.01
    latencies: list[float] = []
    stale = total = missed = 0
    for tag, job_id in zip(tags, ids, strict=True):
        sent = {step: at for (t, step), at in frames.sent.items() if t == tag}
        events = [e for e in account.events[job_id] if e.data.get("step")]
        first_seen: dict[int, float] = {}
        for event in events:
            step = event.data["step"]
            total += 1
            newer_sent = [at for s, at in sent.items() if s > step]
            if newer_sent and event.received_at - min(newer_sent) > STALE_AFTER:
                stale += 1
            first_seen.setdefault(step, event.received_at)
        for step, at in sent.items():
            if step in first_seen:
                latencies.append((first_seen[step] - at) * 1000)
            else:
                missed += 1
    latencies.sort()
    return ProgressMeasurement(
        in_flight=in_flight,
        events=total,
        latency_p50_ms=_percentile(latencies, 0.50),
        latency_p99_ms=_percentile(latencies, 0.99),
        stale=stale,
        missed_steps=missed,
    )


def _percentile(ordered: Sequence[float], share: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- the report ------------------------------------------------------------------------

METRICS = (
    ("wall per job, ms", "wall_per_job_ms", ".1f"),
    ("host CPU per job, ms", "cpu_per_job_ms", ".1f"),
    ("peak RSS, MiB", "peak_rss_mib", ".0f"),
    ("DB writes per job", "db_writes_per_job", ".2f"),
    ("job-table writes/job", "job_table_writes_per_job", ".2f"),
    ("ComfyUI sockets", "ws_connections", "d"),
    ("ComfyUI HTTP/job", "http_requests_per_job", ".2f"),
    ("GET /queue per job", "queue_gets_per_job", ".2f"),
)


def format_paths(rows: list[tuple[str, int, Measurement, Measurement]]) -> str:
    lines = ["| workload | jobs | metric | ours | built-in | ours/built-in |", "|---" * 6 + "|"]
    for name, jobs, ours, builtin in rows:
        for label, attribute, spec in METRICS:
            mine, theirs = getattr(ours, attribute), getattr(builtin, attribute)
            ratio = f"{mine / theirs:.2f}" if theirs else "–"
            lines.append(
                f"| {name} | {jobs} | {label} | {mine:{spec}} | {theirs:{spec}} | {ratio} |"
            )
    return "\n".join(lines)


def format_progress(rows: Sequence[ProgressMeasurement], step_seconds: float) -> str:
    lines = [
        "| in flight | step s | events | frame→Socket.IO p50 ms | p99 ms | stale > 10 ms "
        "| missed steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.in_flight} | {step_seconds} | {row.events} | {row.latency_p50_ms:.1f} "
            f"| {row.latency_p99_ms:.1f} | {row.stale} | {row.missed_steps} |"
        )
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> str:
    frames = FrameLog()
    report: list[str] = []
    with ThreadedDouble(models=MODELS, step_seconds=0.01) as comfy:
        owui = OpenWebUIProcess(comfy.url)
        try:
            await owui.started()
            admin = Account(owui.url, await sign_up(owui.url, "Bench Admin", "bench@example.com"))
            await admin.connect()
            for workload in (MODEL_FREE, TXT2IMG_WORKLOAD):
                await upload_workflow(admin, workload)
            bench = Bench(owui, comfy, WriteCounter(owui.database))
            rows = []
            for workload in (MODEL_FREE, TXT2IMG_WORKLOAD):
                await configure_builtin(admin, comfy.url, workload)
                for way in WAYS.values():  # warm both ways up
                    await bench.measure(way, admin, workload, 2)
                for jobs in args.jobs:
                    results: dict[str, list[Measurement]] = {name: [] for name in WAYS}
                    for _ in range(args.repeats):
                        for name, way in WAYS.items():
                            results[name].append(
                                await bench.measure(way, admin, workload, jobs, rounds_of(jobs))
                            )
                    rows.append(
                        (workload.name, jobs, median(results["ours"]), median(results["built-in"]))
                    )
                    print(format_paths(rows[-1:]), flush=True)
            if rows:
                report.append(format_paths(rows))
            if not args.skip_progress:
                progress = [
                    await measure_progress(bench, frames, admin, in_flight, args.step_seconds)
                    for in_flight in args.in_flight
                ]
                report.append(format_progress(progress, args.step_seconds))
                print(report[-1], flush=True)
            await admin.close()
        finally:
            owui.stop()
    return "\n\n".join(report)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[16, 256])
    parser.add_argument("--step-seconds", type=float, default=0.05)
    parser.add_argument("--skip-progress", action="store_true")
    args = parser.parse_args(argv)
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
