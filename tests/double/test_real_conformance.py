"""The double against a live ComfyUI 0.33 (the kit's), so that a drift of the double from
the real server is caught: the recorder's whole v0.33 session — its scenarios in the order
they were recorded, on a freshly started server — is replayed against the live server and
against the double set to 0.33, and what a client saw must be the same on both: the event
sequences, the HTTP answers, the 400 bodies and the execution errors."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from comfyui_double import ComfyDouble
from comfyui_double.graphs import empty_image_prompt
from comfyui_real import RealComfyUI
from test_trace_conformance import SCENARIOS
from trace_replay import (
    V0_33,
    HttpResult,
    Replay,
    ReplayTarget,
    assert_same_client_view,
    replay_against,
)

# the whole session is replayed while the first test sets up (minutes on busy CPUs)
pytestmark = [pytest.mark.real_comfyui, pytest.mark.timeout(900)]

MISC = "misc"
RECORDED_ORDER = ("0.33-a", "0.33-e2", "0.33-e", "0.33-f", "0.33-j", "0.33-c", "0.33-h", "0.33-k")
LIVE_WAIT = 300.0
"""Seconds the live server may take for a step of the replay (a cold checkpoint load, or a
128² sampler step on busy CPUs)."""


@dataclass(frozen=True)
class LiveServer:
    comfyui: RealComfyUI

    @property
    def url(self) -> str:
        return self.comfyui.url

    async def wait_idle(self, timeout: float) -> None:  # noqa: ASYNC109 (ReplayTarget)
        await asyncio.to_thread(self.comfyui.wait_idle, timeout)


@dataclass(frozen=True)
class Replays:
    live: Replay
    double: Replay
    multi_prompt: bool


@pytest.fixture(scope="module")
def session(real_comfyui: RealComfyUI) -> dict[str, Replays]:
    """Each scenario as the live server and the double answered it, in recorded order."""
    # as recorded: fresh history, caches and queue, and only ComfyUI's own example in
    # the input folder (LoadImage lists it; earlier tests upload images there)
    real_comfyui.restart(stock_input=True)
    return asyncio.run(_replay_session(real_comfyui))


async def _replay_session(comfyui: RealComfyUI) -> dict[str, Replays]:
    live = LiveServer(comfyui)
    checkpoints = comfyui.get("/models/checkpoints")
    replays: dict[str, Replays] = {}
    async with ComfyDouble(models={"checkpoints": checkpoints}, version="0.33") as double:
        # the recorder's unrecorded smoke test, which the jobs lists show
        smoke_test = empty_image_prompt("tmp_dry")
        for server in (live, double):
            await _run(server, smoke_test)
        for name in RECORDED_ORDER:
            scenario = SCENARIOS[name]
            # long enough for the replayed HTTP calls to land inside the node they target
            double.step_seconds = 0.25 if scenario.multi_prompt else 0.005
            replays[name] = await _replay_both(live, double, scenario.file, scenario.multi_prompt)
        replays[MISC] = await _replay_both(live, double, "misc_endpoints.jsonl", False)
    return replays


async def _replay_both(
    live: LiveServer, double: ComfyDouble, file: str, multi_prompt: bool
) -> Replays:
    records = V0_33.load(file)
    client_id = records[0].get("client_id", "misc")
    return Replays(
        live=await replay_against(live, records, client_id, LIVE_WAIT),
        double=await replay_against(double, records, client_id),
        multi_prompt=multi_prompt,
    )


async def _run(server: ReplayTarget, prompt: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/prompt", json={"prompt": prompt}) as response:
            assert response.status == 200, await response.text()
    await server.wait_idle(LIVE_WAIT)


def without_the_setting(replay: Replay) -> Replay:
    """The answers, less what tells this test server from the recorded one rather than the
    double from ComfyUI: its command line (a port and folders of its own), the frontend's
    extension scripts (the double serves no frontend), and which of two jobs that took a few
    milliseconds each was the quicker (timing; that the list is sorted by duration stays)."""
    answers = [_setting_free(answer) for answer in replay.http if answer.path != "/extensions"]
    return dataclasses.replace(replay, http=answers)


def _setting_free(answer: HttpResult) -> HttpResult:
    body = answer.body
    if answer.path == "/system_stats":
        body = {**body, "system": {**body["system"], "argv": "<this server's>"}}
    elif "sort_by=execution_duration" in answer.path and answer.status == 200:
        jobs = body["jobs"]
        durations = [job["execution_end_time"] - job["execution_start_time"] for job in jobs]
        body = {
            **body,
            "jobs": {
                "sorted by duration": durations == sorted(durations),
                "fields": [sorted(job) for job in jobs],
            },
        }
    return dataclasses.replace(answer, body=body)


@pytest.mark.parametrize("name", [*RECORDED_ORDER, MISC])
def test_the_double_answers_as_the_live_server_did(name: str, session: dict[str, Replays]) -> None:
    replays = session[name]
    assert_same_client_view(
        without_the_setting(replays.double),
        without_the_setting(replays.live),
        replays.multi_prompt,
    )
