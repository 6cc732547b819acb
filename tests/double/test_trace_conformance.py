"""Replays each recording of a real server against the double, set to that server's version,
and compares what a client saw: frames per socket, HTTP answers, 400 bodies."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from comfyui_double import ComfyDouble
from comfyui_double.graphs import empty_image_prompt
from trace_replay import (
    V0_8,
    V0_33,
    TraceSet,
    assert_same_client_view,
    http_answers,
    recorded_replay,
    replay_against,
)


def _with_seed(workflow: dict[str, Any], seed: int) -> dict[str, Any]:
    changed = copy.deepcopy(workflow)
    changed["3"]["inputs"]["seed"] = seed
    return changed


@dataclass(frozen=True)
class Scenario:
    traces: TraceSet
    file: str
    priming: Callable[[], list[dict[str, Any]]] = list
    """What ran on the recorded server before, where the recording depends on it (the cache,
    output file counters, the jobs list)."""
    multi_prompt: bool = False
    """Several prompts in flight: their interleaving with HTTP calls is timing."""


def _workflows(traces: TraceSet, *names: str) -> Callable[[], list[dict[str, Any]]]:
    return lambda: [traces.workflow(name) for name in names]


def _smoke_test() -> list[dict[str, Any]]:
    """The recorder's unrecorded 8x8 check before the v0.33 set; /api/jobs lists it."""
    return [empty_image_prompt("tmp_dry")]


V0_8_E3 = "e3_txt2img_sdrand_64_4steps_seed778.json"
V0_33_E2 = "e2_txt2img_sdrand_128_4steps_seed778.json"
V0_33_E = "e_txt2img_sdrand_128_4steps_seed42.json"
SCENARIOS = {
    "0.8-a": Scenario(V0_8, "a_emptyimage_save.jsonl"),
    "0.8-b": Scenario(V0_8, "b_upload_load_invert_scale_save.jsonl"),
    "0.8-c": Scenario(V0_8, "c_invalid_400.jsonl"),
    "0.8-d": Scenario(V0_8, "d_queue_delete_interrupt_by_id.jsonl", multi_prompt=True),
    "0.8-d_global": Scenario(V0_8, "d_queue_delete_interrupt_global.jsonl", multi_prompt=True),
    "0.8-d2": Scenario(
        V0_8,
        "d2_queue_delete_interrupt_by_prompt_id_ksampler.jsonl",
        _workflows(V0_8, V0_8_E3),
        multi_prompt=True,
    ),
    "0.8-e": Scenario(V0_8, "e_txt2img_sdrand.jsonl"),
    "0.8-e2": Scenario(
        V0_8,
        "e2_txt2img_sdrand_64_4steps_warm_featureflags.jsonl",
        lambda: [_with_seed(V0_8.workflow(V0_8_E3), 777)],
    ),
    "0.8-f": Scenario(V0_8, "f_txt2img_cached.jsonl", _workflows(V0_8, "e_txt2img_sdrand.json")),
    "0.8-g": Scenario(
        V0_8, "g_txt2img_seed43_steps12.jsonl", _workflows(V0_8, "e_txt2img_sdrand.json")
    ),
    "0.8-h": Scenario(V0_8, "h_runtime_execution_error.jsonl"),
    "0.8-i": Scenario(V0_8, "i_post_without_client_id.jsonl"),
    "0.33-a": Scenario(V0_33, "a_emptyimage_save.jsonl", _smoke_test),
    "0.33-c": Scenario(V0_33, "c_invalid_400.jsonl"),
    "0.33-e2": Scenario(V0_33, "e2_txt2img_featureflags.jsonl"),
    "0.33-e": Scenario(
        V0_33,
        "e_txt2img_no_flags.jsonl",
        _workflows(V0_33, V0_33_E2),
    ),
    "0.33-f": Scenario(V0_33, "f_cached.jsonl", _workflows(V0_33, V0_33_E2, V0_33_E)),
    "0.33-j": Scenario(
        V0_33,
        "j_jobs_cancel_running_and_pending.jsonl",
        # the whole session before it: /api/jobs?limit=3 counts every job
        lambda: [
            *_smoke_test(),
            *_workflows(V0_33, "a_emptyimage_save.json", V0_33_E2, V0_33_E, V0_33_E)(),
        ],
        multi_prompt=True,
    ),
    "0.33-h": Scenario(V0_33, "h_runtime_execution_error.jsonl"),
    "0.33-k": Scenario(V0_33, "k_client_supplied_prompt_id.jsonl"),
}


async def _prime(double: ComfyDouble, prompt: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{double.url}/prompt", json={"prompt": prompt}) as response:
            assert response.status == 200
    await double.wait_idle(timeout=10)


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_double_replays_recording(name: str) -> None:
    scenario = SCENARIOS[name]
    records = scenario.traces.load(scenario.file)
    meta = records[0]
    expected = recorded_replay(records)
    # long enough for the replayed HTTP calls to land inside the node they target
    step_seconds = 0.25 if scenario.multi_prompt else 0.005
    async with ComfyDouble(
        step_seconds=step_seconds,
        models={"checkpoints": list(scenario.traces.checkpoints)},
        version=scenario.traces.version,
    ) as double:
        for prompt in scenario.priming():
            await _prime(double, prompt)
        actual = await replay_against(double, records, meta["client_id"])

    assert_same_client_view(actual, expected, scenario.multi_prompt)


def _independent_of_the_session(record: dict[str, Any]) -> bool:
    """Whether an answer is the same on a fresh server: not a list of earlier jobs or history,
    of uploaded input files, or of the frontend's extension scripts."""
    path, body = record["path"], record.get("response_json")
    if path.startswith(("/history?", "/object_info/LoadImage", "/extensions")):
        return False
    if path.startswith("/api/jobs") and record["method"] == "GET" and record["status"] == 200:
        return "pagination" in body and body["pagination"]["total"] == 0
    return True


@pytest.mark.parametrize("traces", [V0_8, V0_33], ids=["0.8", "0.33"])
async def test_double_answers_misc_endpoints_as_recorded(traces: TraceSet) -> None:
    records = [
        record
        for record in traces.load("misc_endpoints.jsonl")
        if record["kind"] != "http" or _independent_of_the_session(record)
    ]
    expected = recorded_replay(records)
    async with ComfyDouble(
        models={"checkpoints": list(traces.checkpoints)}, version=traces.version
    ) as double:
        actual = await replay_against(double, records, records[0].get("client_id", "misc"))
    assert len(expected.http) >= 15
    assert http_answers(actual) == http_answers(expected)


@pytest.mark.parametrize("traces", [V0_8, V0_33], ids=["0.8", "0.33"])
async def test_rejections_match_the_recorded_400_bodies(traces: TraceSet) -> None:
    cases = traces.workflow("c_invalid_cases.json")
    recorded = traces.workflow("../c_invalid_400_summary.json")
    assert set(cases) == set(recorded)
    async with (
        ComfyDouble(
            models={"checkpoints": list(traces.checkpoints)}, version=traces.version
        ) as double,
        aiohttp.ClientSession() as session,
    ):
        for name, expected in recorded.items():
            case = cases[name]
            body = case["__raw_body__"] if "__raw_body__" in case else {"prompt": case}
            async with session.post(f"{double.url}/prompt", json=body) as response:
                assert response.status == expected["status"], name
                answer = await response.json()
            assert _without_tracebacks(answer) == _without_tracebacks(expected["body"]), name


def _without_tracebacks(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: "<traceback>" if key == "traceback" else _without_tracebacks(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_tracebacks(item) for item in value]
    return value
