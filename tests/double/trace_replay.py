"""Replays a recorded scenario against a server (the double or a real ComfyUI) and normalises
what a client saw, for comparison."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from PIL import Image

TRACES = Path(__file__).parent.parent / "fixtures" / "traces"
UPLOADED_IMAGE = TRACES / "workflows" / "test_input_48x32.png"
WAIT_SECONDS = 10
VOLATILE_NUMBERS = {
    "timestamp",
    "create_time",
    "execution_start_time",
    "execution_end_time",
    # memory of the recording machine (/system_stats)
    "ram_total",
    "ram_free",
    "vram_total",
    "vram_free",
    "torch_vram_total",
    "torch_vram_free",
}
UNORDERED_LISTS = {"executed", "current_outputs"}
OPAQUE = {"traceback", "current_inputs"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
COUNTER = re.compile(r"_\d{5}_\.png")


@dataclass(frozen=True)
class TraceSet:
    """The recordings of one ComfyUI release, and the double's version knob that matches it."""

    version: str
    folder: Path
    checkpoints: tuple[str, ...]
    """What the recorded server's checkpoints folder held."""

    def load(self, name: str) -> list[dict[str, Any]]:
        lines = (self.folder / name).read_text().splitlines()
        return [json.loads(line) for line in lines if line]

    def workflow(self, name: str) -> Any:
        return json.loads((self.folder / "workflows" / name).read_text())


V0_8 = TraceSet("0.8", TRACES, ("sdrand15.safetensors",))
V0_33 = TraceSet(
    "0.33",
    TRACES / "v0_33",
    (
        "sdrand15.safetensors",
        "v1-5-pruned-emaonly-fp16.safetensors",
        "v1-5-pruned-emaonly.safetensors",
    ),
)


class ReplayTarget(Protocol):
    """A server a recording is replayed against: the double, or a real ComfyUI."""

    @property
    def url(self) -> str: ...

    async def wait_idle(self, timeout: float) -> None: ...  # noqa: ASYNC109


@dataclass
class Frames:
    """Frames one socket received, normalised as (kind, type, data)."""

    items: list[tuple[str, Any, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    wait_seconds: float = WAIT_SECONDS

    def add(self, item: tuple[str, Any, Any]) -> None:
        self.items.append(item)
        self.arrived.set()

    def count_non_status(self) -> int:
        return sum(1 for kind, kind_type, _ in self.items if kind_type != "status")

    async def wait_until(self, predicate: Any) -> None:
        async def wait() -> None:
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(wait(), self.wait_seconds)


def recorded_frame(record: dict[str, Any]) -> tuple[str, Any, Any]:
    if record["kind"] == "ws_text":
        message = json.loads(record["raw"])
        return ("text", message["type"], message["data"])
    if record["event_type"] == 4:
        return ("binary", 4, record["metadata"])
    return ("binary", record["event_type"], record["format"])


def received_frame(message: aiohttp.WSMessage) -> tuple[str, Any, Any]:
    if message.type is aiohttp.WSMsgType.TEXT:
        decoded = json.loads(message.data)
        return ("text", decoded["type"], decoded["data"])
    event_type, second = struct.unpack(">II", message.data[:8])
    if event_type == 4:
        return ("binary", 4, json.loads(message.data[8 : 8 + second]))
    return ("binary", event_type, second)


@dataclass
class HttpResult:
    method: str
    path: str
    status: int
    content_type: str
    body: Any


@dataclass
class Replay:
    """What both sides did; prompt ids and queue numbers are listed in submission order."""

    frames: list[tuple[str, Any, Any]]
    http: list[HttpResult]
    prompt_ids: list[str]
    numbers: list[Any]


def recorded_replay(records: list[dict[str, Any]]) -> Replay:
    http = [
        HttpResult(
            r["method"],
            r["path"],
            r["status"],
            r.get("content_type", ""),
            r.get("response_json") if "response_json" in r else _recorded_bytes(r),
        )
        for r in records
        if r["kind"] == "http"
    ]
    submitted = [
        r["response_json"]
        for r in records
        if r["kind"] == "http" and _is_submission(r) and r["status"] == 200
    ]
    frames = [recorded_frame(r) for r in records if r["kind"] in ("ws_text", "ws_binary")]
    return Replay(
        frames,
        http,
        [body["prompt_id"] for body in submitted],
        [body["number"] for body in submitted],
    )


def _is_submission(record: dict[str, Any]) -> bool:
    return record["method"] == "POST" and record["path"] == "/prompt"


def _recorded_bytes(record: dict[str, Any]) -> Any:
    if "png_size" in record:
        return {"png_size": record["png_size"]}
    return {"length": record.get("response_len", 0)}


async def replay_against(
    server: ReplayTarget,
    records: list[dict[str, Any]],
    client_id: str,
    wait_seconds: float = WAIT_SECONDS,
) -> Replay:
    """Does what the recording's client did, each HTTP call once as many frames arrived as
    had before it in the recording; waits up to ``wait_seconds`` for each."""
    frames = Frames(wait_seconds=wait_seconds)
    http: list[HttpResult] = []
    prompt_ids: list[str] = []
    numbers: list[Any] = []
    id_map: dict[str, str] = {}
    recorded_non_status = 0
    async with aiohttp.ClientSession() as session:
        ws: aiohttp.ClientWebSocketResponse | None = None
        reader: asyncio.Task[None] | None = None
        try:
            for record in records:
                kind = record["kind"]
                if kind == "ws_connect":
                    ws = await session.ws_connect(f"{server.url}/ws?clientId={client_id}")
                    reader = asyncio.create_task(_read(ws, frames))
                    await frames.wait_until(lambda: frames.items)
                elif kind == "ws_send":
                    assert ws is not None
                    await ws.send_str(record["raw"])
                elif kind in ("ws_text", "ws_binary"):
                    if recorded_frame(record)[1] != "status":
                        recorded_non_status += 1
                elif kind == "http":
                    # act at the same point of the event stream as the recording did
                    before = _non_status_before(records, record["t"] - record.get("elapsed_s", 0))
                    await frames.wait_until(lambda n=before: frames.count_non_status() >= n)
                    result = await _perform(session, server.url, record, id_map)
                    http.append(result)
                    if _is_submission(record) and result.status == 200:
                        id_map[record["response_json"]["prompt_id"]] = result.body["prompt_id"]
                        prompt_ids.append(result.body["prompt_id"])
                        numbers.append(result.body["number"])
            await server.wait_idle(wait_seconds)
            total = recorded_non_status
            await frames.wait_until(lambda: frames.count_non_status() >= total)
        finally:
            if ws is not None:
                await ws.close()
            if reader is not None:
                await reader
    return Replay(frames.items, http, prompt_ids, numbers)


def _non_status_before(records: list[dict[str, Any]], moment: float) -> int:
    """The frames (but status) recorded before ``moment``. Times are recorded to 0.1 ms: a
    frame in the same tenth of a millisecond as a request came before it (the client acted
    on it; e.g. ``executing`` null, then ``GET /history``)."""
    tick = round(moment, 4)
    return sum(
        1
        for r in records
        if r["kind"] in ("ws_text", "ws_binary")
        and r["t"] <= tick
        and recorded_frame(r)[1] != "status"
    )


async def _read(ws: aiohttp.ClientWebSocketResponse, frames: Frames) -> None:
    async for message in ws:
        frames.add(received_frame(message))


async def _perform(
    session: aiohttp.ClientSession, url: str, record: dict[str, Any], id_map: dict[str, str]
) -> HttpResult:
    path = record["path"]
    for recorded_id, actual_id in id_map.items():
        path = path.replace(recorded_id, actual_id)
    kwargs: dict[str, Any] = {}
    if "request_json" in record:
        body = json.dumps(record["request_json"])
        for recorded_id, actual_id in id_map.items():
            body = body.replace(recorded_id, actual_id)
        kwargs["data"] = body
        kwargs["headers"] = {"Content-Type": "application/json"}
    elif "request_raw" in record:
        kwargs["data"] = record["request_raw"]
        kwargs["headers"] = {"Content-Type": "application/json"}
    elif path == "/upload/image":
        form = aiohttp.FormData()
        image = UPLOADED_IMAGE
        form.add_field("image", image.read_bytes(), filename=image.name, content_type="image/png")
        kwargs["data"] = form
    async with session.request(record["method"], url + path, **kwargs) as response:
        raw = await response.read()
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            body: Any = json.loads(raw)
        elif content_type == "image/png":
            body = {"png_size": list(Image.open(io.BytesIO(raw)).size)}
        else:
            body = {"length": len(raw)}
        return HttpResult(record["method"], path, response.status, content_type, body)


def normalise(value: Any, replay: Replay, key: str | None = None) -> Any:
    """Prompt ids, queue numbers, timestamps and file counters made comparable; numbers keep
    their type (1 and 1.0 differ, as they do on the wire)."""
    if key in OPAQUE:
        return f"<{type(value).__name__}>"
    if isinstance(value, dict):
        return {normalise(k, replay): normalise(v, replay, k) for k, v in value.items()}
    if isinstance(value, list):
        if _is_queue_item(value, replay):
            number = f"<number {replay.numbers.index(value[0])}>"
            return [number, *[normalise(item, replay) for item in value[1:]]]
        items = [normalise(item, replay) for item in value]
        return sorted(items, key=repr) if key in UNORDERED_LISTS else items
    if isinstance(value, str):
        value = UUID.sub(lambda m: _prompt_label(m.group(0), replay), value)
        value = re.sub(r"ComfyUI_temp_[a-z]{5}", "ComfyUI_temp_<random>", value)
        return COUNTER.sub("_<counter>_.png", value)
    if isinstance(value, bool) or value is None:
        return value
    if key in VOLATILE_NUMBERS:
        return f"<{type(value).__name__} time>"
    if key in ("number", "priority") and value in replay.numbers:
        return f"<number {replay.numbers.index(value)}>"
    return f"{type(value).__name__}:{value}"


def _is_queue_item(value: list[Any], replay: Replay) -> bool:
    return (
        len(value) == 5
        and isinstance(value[1], str)
        and value[1] in replay.prompt_ids
        and value[0] in replay.numbers
    )


def _prompt_label(prompt_id: str, replay: Replay) -> str:
    if prompt_id in replay.prompt_ids:
        return f"<prompt {replay.prompt_ids.index(prompt_id)}>"
    # a client id (the same on both sides), a prompt run before the replay, or no job at all
    return "<other id>"


def frames_seen(replay: Replay) -> list[Any]:
    return [normalise(list(frame), replay) for frame in replay.frames]


def http_answers(replay: Replay) -> list[Any]:
    return [
        normalise([r.method, r.path, r.status, r.content_type, _ties_ordered(r)], replay)
        for r in replay.http
    ]


def _ties_ordered(answer: HttpResult) -> Any:
    """A jobs list with the jobs created in the same millisecond ordered as if they had
    been a millisecond apart: ComfyUI leaves such ties in its listing's order, and whether
    prompts posted one after the other share a millisecond is timing."""
    body = answer.body
    listed = answer.path.startswith("/api/jobs?") or answer.path == "/api/jobs"
    if not (listed and isinstance(body, dict) and isinstance(body.get("jobs"), list)):
        return body
    if "sort_by=execution_duration" in answer.path:
        return body
    descending = "sort_order=asc" not in answer.path
    runs = itertools.groupby(body["jobs"], key=lambda job: job.get("create_time"))
    jobs = [
        job
        for _, run in runs
        for job in sorted(run, key=lambda job: job.get("priority", 0), reverse=descending)
    ]
    return {**body, "jobs": jobs}


def assert_same_client_view(actual: Replay, expected: Replay, multi_prompt: bool) -> None:
    """What a client saw is the same: the HTTP answers, and the frames — in the same order
    for one prompt at a time; with several prompts in flight, each prompt's frames, the queue
    lengths reported, and one prompt running at a time (their interleaving with the HTTP calls
    is timing)."""
    assert len(actual.prompt_ids) == len(expected.prompt_ids)
    _assert_same_lists(http_answers(actual), http_answers(expected), "HTTP answer")
    actual_frames, expected_frames = frames_seen(actual), frames_seen(expected)
    if not multi_prompt:
        _assert_same_lists(actual_frames, expected_frames, "frame")
        return
    assert _queue_lengths(actual_frames) == _queue_lengths(expected_frames)
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


def _assert_same_lists(actual: list[Any], expected: list[Any], what: str) -> None:
    """Item by item, so that a failure names the first place where they differ."""
    for index, (got, wanted) in enumerate(zip(actual, expected, strict=False)):
        assert got == wanted, f"{what} {index} differs at {first_difference(got, wanted)}"
    assert len(actual) == len(expected), f"{len(actual)} {what}s, {len(expected)} expected"


def first_difference(actual: Any, expected: Any, path: str = "") -> str:
    """Where ``actual`` and ``expected`` first differ, and how: ``[4].jobs[0].status: …``."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        for key in [*expected, *(key for key in actual if key not in expected)]:
            if actual.get(key, "<absent>") != expected.get(key, "<absent>"):
                where = f"{path}.{key}"
                return first_difference(actual.get(key, "<absent>"), expected.get(key), where)
    elif isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        for index, (got, wanted) in enumerate(zip(actual, expected, strict=True)):
            if got != wanted:
                return first_difference(got, wanted, f"{path}[{index}]")
    return f"{path or '(whole)'}: {actual!r:.300} where {expected!r:.300} was expected"


def _queue_lengths(frames: list[Any]) -> list[Any]:
    """The queue lengths status frames report, repeats folded: whether the worker took the first
    prompt before or after the next one was posted is timing (one more repeat either way)."""
    lengths = [frame[2]["status"]["exec_info"] for frame in frames if frame[1] == "status"]
    return [n for i, n in enumerate(lengths) if i == 0 or lengths[i - 1] != n]


def _by_prompt(frames: list[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for frame in (frame for frame in frames if frame[1] != "status"):
        data = frame[2]
        prompt = data.get("prompt_id") if isinstance(data, dict) else None
        grouped.setdefault(prompt or "<untargeted>", []).append(frame)
    return grouped
