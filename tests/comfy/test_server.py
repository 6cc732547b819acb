"""ComfyServer: submitting, credentials on both channels, queue positions, shutdown."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from comfyui_double import ComfyDouble
from job_updates import Updates

from comfyui_pipe.comfy.errors import ComfyUnreachable, PromptRejected
from comfyui_pipe.comfy.problems import ProblemKind
from comfyui_pipe.comfy.queue import QueuePosition
from comfyui_pipe.comfy.server import ComfyServer, JobTimeouts

WORKFLOWS = Path(__file__).parent.parent / "fixtures" / "traces" / "workflows"
MODELS = {"checkpoints": ["sdrand15.safetensors"]}
FAST = JobTimeouts(connect=1, history=2, cancel=2)


def workflow(name: str) -> dict[str, Any]:
    return json.loads((WORKFLOWS / name).read_text())


def square(color: int) -> dict[str, Any]:
    """EmptyImage → SaveImage, one distinct image per color."""
    graph = workflow("d2_short.json")
    graph["1"]["inputs"]["color"] = color
    graph["2"]["inputs"]["filename_prefix"] = f"c{color}"
    return graph


async def test_a_job_reports_its_files_with_credentials_on_http_and_socket() -> None:
    async with (
        ComfyDouble(step_seconds=0.01) as double,
        ComfyServer(
            double.url, headers={"Authorization": "Bearer abc"}, token="t0k", timeouts=FAST
        ) as server,
    ):
        job = await server.submit(square(0x00FF00))
        result = await job.outcome()

    assert [(ref.filename, ref.type) for ref in result.outputs] == [("c65280_00001_.png", "output")]
    (handshake,) = double.ws_handshakes
    assert handshake.headers["Authorization"] == "Bearer abc"
    assert handshake.query["token"] == "t0k"
    assert handshake.query["clientId"] == server.client.client_id
    (posted,) = [r for r in double.requests if r.method == "POST" and r.path == "/prompt"]
    assert posted.json["prompt_id"] == job.prompt_id
    assert posted.headers["Authorization"] == "Bearer abc"


async def test_a_rejected_prompt_raises_and_leaves_nothing_behind() -> None:
    broken = square(0)
    del broken["2"]["inputs"]["images"]
    async with ComfyDouble() as double, ComfyServer(double.url, timeouts=FAST) as server:
        with pytest.raises(PromptRejected) as caught:
            await server.submit(broken)

        (problem,) = caught.value.problems
        assert (problem.kind, problem.input) == (ProblemKind.INPUT_MISSING, "images")

        assert server.jobs == []
        assert server.stream.subscribed == frozenset()


async def test_submitting_to_a_server_that_is_not_there_fails_fast() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    async with ComfyServer(f"http://127.0.0.1:{port}", timeouts=FAST) as server:
        async with asyncio.timeout(3):
            with pytest.raises(ComfyUnreachable):
                await server.submit(square(0))
        assert server.stream.subscribed == frozenset()


async def test_waiting_jobs_see_their_queue_position_from_few_queue_reads() -> None:
    async with (
        ComfyDouble(step_seconds=0.01, models=MODELS) as double,
        ComfyServer(double.url, timeouts=FAST) as server,
    ):
        long = await server.submit(workflow("d2_long_ksampler_200steps.json"))
        updates = [Updates() for _ in range(10)]
        waiting = [
            await server.submit(square(color), listener=seen)
            for color, seen in zip(range(10), updates, strict=True)
        ]
        last_seen = await updates[-1].first(lambda u: isinstance(u, QueuePosition))
        await long.cancel()
        results = await asyncio.gather(*(job.outcome() for job in waiting))
        positions = [[u.position for u in seen.of(QueuePosition) if u.position] for seen in updates]

    assert (last_seen.position, last_seen.total) == (10, 11)
    assert all(seen == sorted(seen, reverse=True) for seen in positions)
    assert len({ref.filename for result in results for ref in result.outputs}) == 10
    queue_reads = [r for r in double.requests if r.method == "GET" and r.path == "/queue"]
    assert len(queue_reads) < 40  # every status reaches all 10 jobs; they share the reads


async def test_leaving_with_a_job_in_flight_stops_following_it_cleanly() -> None:
    async with ComfyDouble(step_seconds=0.05, models=MODELS) as double:
        async with ComfyServer(double.url, timeouts=FAST) as server:
            job = await server.submit(workflow("d2_long_ksampler_200steps.json"))
        with pytest.raises(asyncio.CancelledError):
            await job.outcome()
        ours = [
            t for t in asyncio.all_tasks() if "comfyui_pipe" in t.get_coro().cr_code.co_filename
        ]
        assert ours == []
