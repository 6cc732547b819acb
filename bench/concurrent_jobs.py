"""N concurrent jobs against the ComfyUI test double: one shared socket vs one socket per job.

    .venv/bin/python bench/concurrent_jobs.py [--jobs 50] [--step-seconds 0.005]

"ours" is one ``ComfyServer`` (one WebSocket for every job). "baseline" is how
Open WebUI's built-in ComfyUI engine runs a job: a new WebSocket with its own
client id, ``POST /prompt``, wait for ``executing`` with node null for that
prompt, then ``GET /history/{id}``. Both ways run against the same double in
the same process, so only the ratios ours/baseline mean anything.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from comfyui_double import ComfyDouble  # noqa: E402

from comfyui_pipe.comfy import ComfyServer  # noqa: E402

WORKFLOWS = ROOT / "tests" / "fixtures" / "traces" / "workflows"
MODELS = {"checkpoints": ["sdrand15.safetensors"]}
REPEATS = 3
MEASUREMENT_TIMEOUT = 300.0

Graph = dict[str, Any]
Way = Callable[[ComfyDouble, list[Graph]], Awaitable[None]]


@dataclass(frozen=True)
class Measurement:
    wall_seconds: float
    ws_connections: int
    http_requests: int


@dataclass(frozen=True)
class Workload:
    name: str
    make_graph: Callable[[int], Graph]


def _load(name: str) -> Graph:
    return json.loads((WORKFLOWS / name).read_text())


def _workloads() -> list[Workload]:
    empty_image = _load("a_emptyimage_save.json")
    txt2img = _load("e_txt2img_sdrand.json")

    def empty_image_graph(index: int) -> Graph:
        graph = copy.deepcopy(empty_image)
        graph["1"]["inputs"]["color"] = index  # a distinct colour, so nothing is cached
        return graph

    def txt2img_graph(index: int) -> Graph:
        graph = copy.deepcopy(txt2img)
        graph["3"]["inputs"]["seed"] = index
        return graph

    return [
        Workload("EmptyImage→SaveImage", empty_image_graph),
        Workload("txt2img (6 steps)", txt2img_graph),
    ]


async def run_ours(double: ComfyDouble, graphs: list[Graph]) -> None:
    async with ComfyServer(double.url) as server:
        jobs = [await server.submit(graph) for graph in graphs]
        results = await asyncio.gather(*(job.result() for job in jobs))
    if any(not result.outputs for result in results):
        raise RuntimeError("ours: a job finished without outputs")


async def run_baseline(double: ComfyDouble, graphs: list[Graph]) -> None:
    ws_base = double.url.replace("http://", "ws://", 1)
    async with httpx.AsyncClient(base_url=double.url, timeout=10.0) as http:

        async def one_job(graph: Graph) -> None:
            client_id = str(uuid.uuid4())
            async with connect(f"{ws_base}/ws?clientId={client_id}", max_size=None) as ws:
                response = await http.post(
                    "/prompt", json={"prompt": graph, "client_id": client_id}
                )
                response.raise_for_status()
                prompt_id = response.json()["prompt_id"]
                async for frame in ws:
                    if isinstance(frame, bytes):
                        continue  # previews
                    message = json.loads(frame)
                    data = message.get("data") or {}
                    if (
                        message.get("type") == "executing"
                        and data.get("node") is None
                        and data.get("prompt_id") == prompt_id
                    ):
                        break
            response = await http.get(f"/history/{prompt_id}")
            response.raise_for_status()
            if not response.json()[prompt_id]["outputs"]:
                raise RuntimeError("baseline: a job finished without outputs")

        await asyncio.gather(*(one_job(graph) for graph in graphs))


async def measure(double: ComfyDouble, way: Way, graphs: list[Graph]) -> Measurement:
    connections, requests = double.ws_connections, len(double.requests)
    started = time.perf_counter()
    async with asyncio.timeout(MEASUREMENT_TIMEOUT):
        await way(double, graphs)
    return Measurement(
        wall_seconds=time.perf_counter() - started,
        ws_connections=double.ws_connections - connections,
        http_requests=len(double.requests) - requests,
    )


def median(measurements: Sequence[Measurement]) -> Measurement:
    return Measurement(
        wall_seconds=statistics.median(m.wall_seconds for m in measurements),
        ws_connections=round(statistics.median(m.ws_connections for m in measurements)),
        http_requests=round(statistics.median(m.http_requests for m in measurements)),
    )


async def bench_workload(
    workload: Workload, jobs: int, step_seconds: float, seeds: Iterator[int]
) -> tuple[Measurement, Measurement]:
    ours: list[Measurement] = []
    baseline: list[Measurement] = []
    async with ComfyDouble(step_seconds=step_seconds, models=MODELS) as double:
        for _ in range(REPEATS):
            # Interleaved (ours, baseline, ours, …) so both see the same warm-up.
            for way, results in ((run_ours, ours), (run_baseline, baseline)):
                graphs = [workload.make_graph(next(seeds)) for _ in range(jobs)]
                results.append(await measure(double, way, graphs))
    return median(ours), median(baseline)


def format_table(rows: list[tuple[str, Measurement, Measurement]]) -> str:
    header = f"{'workload':<22} {'metric':<15} {'ours':>9} {'baseline':>9} {'ours/base':>9}"
    lines = [header, "-" * len(header)]
    for name, ours, baseline in rows:
        metrics = (
            ("wall seconds", ours.wall_seconds, baseline.wall_seconds, ".3f"),
            ("ws connections", ours.ws_connections, baseline.ws_connections, "d"),
            ("http requests", ours.http_requests, baseline.http_requests, "d"),
        )
        for label, (metric, ours_value, base_value, spec) in zip(
            (name, "", ""), metrics, strict=True
        ):
            ratio = f"{ours_value / base_value:.2f}" if base_value else "n/a"
            lines.append(
                f"{label:<22} {metric:<15} {ours_value:>9{spec}} {base_value:>9{spec}} {ratio:>9}"
            )
    return "\n".join(lines)


async def run(jobs: int, step_seconds: float) -> str:
    seeds = itertools.count(1)
    rows = []
    for workload in _workloads():
        ours, baseline = await bench_workload(workload, jobs, step_seconds, seeds)
        rows.append((workload.name, ours, baseline))
    return format_table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50, help="concurrent jobs per run")
    parser.add_argument(
        "--step-seconds", type=float, default=0.005, help="the double's seconds per sampler step"
    )
    args = parser.parse_args(argv)
    table = asyncio.run(run(args.jobs, args.step_seconds))
    print(
        f"{args.jobs} concurrent jobs, step_seconds={args.step_seconds}, "
        f"median of {REPEATS} runs each"
    )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
