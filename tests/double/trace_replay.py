"""Replays a recorded scenario against the double and normalises both sides for comparison."""

from __future__ import annotations

import asyncio
import io
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from comfyui_double import ComfyDouble
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


@dataclass
class Frames:
    """Frames one socket received, normalised as (kind, type, data)."""

    items: list[tuple[str, Any, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

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

        await asyncio.wait_for(wait(), WAIT_SECONDS)


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
    double: ComfyDouble, records: list[dict[str, Any]], client_id: str
) -> Replay:
    frames = Frames()
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
                    ws = await session.ws_connect(f"{double.url}/ws?clientId={client_id}")
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
                    result = await _perform(session, double.url, record, id_map)
                    http.append(result)
                    if _is_submission(record) and result.status == 200:
                        id_map[record["response_json"]["prompt_id"]] = result.body["prompt_id"]
                        prompt_ids.append(result.body["prompt_id"])
                        numbers.append(result.body["number"])
            await double.wait_idle(timeout=WAIT_SECONDS)
            total = recorded_non_status
            await frames.wait_until(lambda: frames.count_non_status() >= total)
        finally:
            if ws is not None:
                await ws.close()
            if reader is not None:
                await reader
    return Replay(frames.items, http, prompt_ids, numbers)


def _non_status_before(records: list[dict[str, Any]], moment: float) -> int:
    return sum(
        1
        for r in records
        if r["kind"] in ("ws_text", "ws_binary")
        and r["t"] < moment
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
