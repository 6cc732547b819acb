"""Replays each recording of the real server against the double and compares what a client saw."""

from __future__ import annotations

import copy
import json
from typing import Any

import aiohttp
import pytest
from comfyui_double import ComfyDouble
from trace_replay import TRACES, Replay, load, normalise, recorded_replay, replay_against

SCENARIOS = {
    "a": "a_emptyimage_save.jsonl",
    "b": "b_upload_load_invert_scale_save.jsonl",
    "c": "c_invalid_400.jsonl",
    "d": "d_queue_delete_interrupt_by_id.jsonl",
    "d_global": "d_queue_delete_interrupt_global.jsonl",
    "d2": "d2_queue_delete_interrupt_by_prompt_id_ksampler.jsonl",
    "e": "e_txt2img_sdrand.jsonl",
    "e2": "e2_txt2img_sdrand_64_4steps_warm_featureflags.jsonl",
    "f": "f_txt2img_cached.jsonl",
    "g": "g_txt2img_seed43_steps12.jsonl",
    "h": "h_runtime_execution_error.jsonl",
    "i": "i_post_without_client_id.jsonl",
}
# scenarios with several prompts in flight: their interleaving with HTTP calls is timing
MULTI_PROMPT = {"d", "d_global", "d2"}


def _workflow(name: str) -> dict[str, Any]:
    return json.loads((TRACES / "workflows" / name).read_text())


def _with_seed(workflow: dict[str, Any], seed: int) -> dict[str, Any]:
    changed = copy.deepcopy(workflow)
    changed["3"]["inputs"]["seed"] = seed
    return changed


# what ran on the recorded server just before, where the recording depends on its cache
PRIMING = {
    "f": lambda: _workflow("e_txt2img_sdrand.json"),
    "g": lambda: _workflow("e_txt2img_sdrand.json"),
    "e2": lambda: _with_seed(_workflow("e3_txt2img_sdrand_64_4steps_seed778.json"), 777),
    "d2": lambda: _workflow("e3_txt2img_sdrand_64_4steps_seed778.json"),
}


async def _prime(double: ComfyDouble, prompt: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{double.url}/prompt", json={"prompt": prompt}) as response:
            assert response.status == 200
    await double.wait_idle(timeout=10)


def _frames(replay: Replay) -> list[Any]:
    return [normalise(list(frame), replay) for frame in replay.frames]


def _http(replay: Replay) -> list[Any]:
    return [
        normalise([r.method, r.path, r.status, r.content_type, r.body], replay) for r in replay.http
    ]


def _by_prompt(frames: list[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for frame in frames:
        data = frame[2]
        prompt = data.get("prompt_id") if isinstance(data, dict) else None
        grouped.setdefault(prompt or "<untargeted>", []).append(frame)
    return grouped


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_double_replays_recording(scenario: str) -> None:
    records = load(SCENARIOS[scenario])
    meta = records[0]
    expected = recorded_replay(records)
    # long enough for the replayed HTTP calls to land inside the node they target
    step_seconds = 0.25 if scenario in MULTI_PROMPT else 0.005
    async with ComfyDouble(
        step_seconds=step_seconds, models={"checkpoints": ["sdrand15.safetensors"]}
    ) as double:
        if scenario in PRIMING:
            await _prime(double, PRIMING[scenario]())
        actual = await replay_against(double, records, meta["client_id"])

    assert len(actual.prompt_ids) == len(expected.prompt_ids)
    assert _http(actual) == _http(expected)
    actual_frames, expected_frames = _frames(actual), _frames(expected)
    if scenario not in MULTI_PROMPT:
        assert actual_frames == expected_frames
        return
    statuses = [frame for frame in actual_frames if frame[1] == "status"]
    assert statuses == [frame for frame in expected_frames if frame[1] == "status"]
    assert _by_prompt(actual_frames) == _by_prompt(expected_frames)
    # one prompt at a time: each prompt's frames end before the next prompt's begin
    owners = [
        frame[2]["prompt_id"]
        for frame in actual_frames
        if isinstance(frame[2], dict) and "prompt_id" in frame[2]
    ]
    assert owners == sorted(owners, key=lambda owner: owners.index(owner))
    assert [p for i, p in enumerate(owners) if p not in owners[:i]] == [
        p for i, p in enumerate(owners) if p not in owners[i + 1 :]
    ]


async def test_rejections_match_the_recorded_400_bodies() -> None:
    cases = _workflow("c_invalid_cases.json")
    recorded = json.loads((TRACES / "c_invalid_400_summary.json").read_text())
    assert set(cases) == set(recorded)
    async with ComfyDouble() as double, aiohttp.ClientSession() as session:
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
