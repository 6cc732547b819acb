"""Replaying recorded ComfyUI sessions into a ProgressTracker with a fake clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from comfyui_pipe.comfy.events import PREVIEW_IMAGE_WITH_METADATA, Event, Preview, parse_text_frame
from comfyui_pipe.progress import ProgressSnapshot, ProgressTracker

TRACES = Path(__file__).parent.parent / "fixtures" / "traces"


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Recording:
    prompt: dict[str, Any]
    prompt_id: str
    events: list[tuple[float, Event]]
    """This prompt's events (and untargeted ones) with their recorded time."""


@dataclass(frozen=True)
class Step:
    at: float
    event: Event
    snapshot: ProgressSnapshot


def load_recording(name: str) -> Recording:
    """The first prompt posted in a trace, and the frames its socket heard."""
    records = [json.loads(line) for line in (TRACES / f"{name}.jsonl").read_text().splitlines()]
    post = next(r for r in records if r["kind"] == "http" and r["path"] == "/prompt")
    prompt_id = post["response_json"]["prompt_id"]
    events: list[tuple[float, Event]] = []
    for record in records:
        if record["kind"] == "ws_text":
            event = parse_text_frame(record["raw"])
        elif record["kind"] == "ws_binary":
            event = _recorded_preview(record, prompt_id)
        else:
            continue
        if getattr(event, "prompt_id", None) in (None, prompt_id):
            events.append((record["t"], event))
    return Recording(post["request_json"]["prompt"], prompt_id, events)


def _recorded_preview(record: dict[str, Any], prompt_id: str) -> Preview:
    # Only the frame headers were recorded; the image bytes are made up.
    image = f"preview at {record['t']}".encode()
    if record["event_type"] == PREVIEW_IMAGE_WITH_METADATA:
        return Preview(image, "image/jpeg", prompt_id, "3")
    return Preview(image, "image/jpeg")


def replay(recording: Recording) -> list[Step]:
    clock = FakeClock()
    tracker = ProgressTracker(recording.prompt, clock=clock)
    steps = []
    for at, event in recording.events:
        clock.now = at
        tracker.feed(event)
        steps.append(Step(at, event, tracker.snapshot()))
    return steps


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def replay_trace() -> Callable[[str], list[Step]]:
    return lambda name: replay(load_recording(name))
