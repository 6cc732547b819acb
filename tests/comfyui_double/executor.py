"""Runs one prompt the way ComfyUI's executor does: same node order, cache and events."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .faults import Faults
from .nodes import NodeContext, run_node
from .sockets import SocketHub


class Interrupted(Exception):
    pass


class InjectedError(Exception):
    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


@dataclass
class CacheEntry:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None


@dataclass
class OutputCache:
    """Outputs by input signature; like the real "classic" cache it keeps only the last prompt's."""

    entries: dict[str, CacheEntry] = field(default_factory=dict)

    def keep_only(self, signatures: set[str]) -> None:
        self.entries = {key: value for key, value in self.entries.items() if key in signatures}


@dataclass
class Outcome:
    status_str: str
    messages: list[list[Any]]
    outputs: dict[str, Any]
    meta: dict[str, Any]


@dataclass
class Workspace:
    input_dir: Path
    output_dir: Path
    temp_dir: Path


def now_ms() -> int:
    return int(time.time() * 1000)


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


class PromptRun:
    def __init__(
        self,
        *,
        prompt_id: str,
        prompt: dict[str, Any],
        client_id: str | None,
        outputs: list[str],
        object_info: dict[str, Any],
        cache: OutputCache,
        hub: SocketHub,
        faults: Faults,
        workspace: Workspace,
        step_seconds: float,
        interrupted: Callable[[], bool],
    ) -> None:
        self.prompt_id = prompt_id
        self.prompt = prompt
        self.client_id = client_id
        self.outputs = outputs
        self.object_info = object_info
        self.cache = cache
        self.hub = hub
        self.faults = faults
        self.workspace = workspace
        self.step_seconds = step_seconds
        self.interrupted = interrupted
        self.messages: list[list[Any]] = []
        self.signatures = _signatures(prompt, workspace.input_dir)
        self.values: dict[str, tuple[Any, ...]] = {}
        self.ui_outputs: dict[str, Any] = {}
        self.executed: list[str] = []
        self.progress: dict[str, dict[str, Any]] = {}

    async def execute(self) -> Outcome:
        await self._message("execution_start", {"prompt_id": self.prompt_id})
        self.cache.keep_only(set(self.signatures.values()))
        cached = [node_id for node_id in self.prompt if self._cached(node_id)]
        await self._message("execution_cached", {"nodes": cached, "prompt_id": self.prompt_id})
        plan = _ExecutionPlan(self.prompt, self.object_info, self._cached)
        for output in self.outputs:
            plan.add_node(output)
        node_id = None
        try:
            while (node_id := plan.next_node()) is not None:
                await self._execute_node(node_id)
                plan.complete(node_id)
        except Interrupted:
            await self._message("execution_interrupted", self._failure(node_id), broadcast=True)
        except Exception as exc:
            failure = self._failure(node_id) | self._exception_details(node_id, exc)
            await self._message("execution_error", failure)
        else:
            await self._message("execution_success", {"prompt_id": self.prompt_id})
            return Outcome("success", self.messages, self.ui_outputs, self._meta())
        return Outcome("error", self.messages, self.ui_outputs, self._meta())

    def _cached(self, node_id: str) -> bool:
        return self.signatures[node_id] in self.cache.entries

    async def _message(self, event: str, data: dict[str, Any], broadcast: bool = False) -> None:
        data = {**data, "timestamp": now_ms()}
        self.messages.append([event, data])
        if self.client_id is not None or broadcast:
            await self.hub.send(event, data, self.client_id)

    async def _send_to_client(self, event: str, data: dict[str, Any]) -> None:
        if self.client_id is not None:
            await self.hub.send(event, data, self.client_id)

    async def _execute_node(self, node_id: str) -> None:
        class_type = self.prompt[node_id]["class_type"]
        if self._cached(node_id):
            entry = self.cache.entries[self.signatures[node_id]]
            self.values[node_id] = entry.outputs
            ui = entry.ui
            await self._send_to_client("executed", self._executed(node_id, ui))
            if ui is not None:
                self.ui_outputs[node_id] = ui
            await self._set_progress(node_id, 1, 1, "finished")
            return
        await self._set_progress(node_id, 0.0, 1.0, "running")
        await self._send_to_client(
            "executing", {"node": node_id, "display_node": node_id, "prompt_id": self.prompt_id}
        )
        if self.interrupted():
            raise Interrupted
        if fault := self.faults.node_error(node_id, class_type):
            raise InjectedError(*fault)
        context = NodeContext(
            node_id=node_id,
            input_dir=self.workspace.input_dir,
            output_dir=self.workspace.output_dir,
            temp_dir=self.workspace.temp_dir,
            step_seconds=self.step_seconds,
            report_step=lambda step, steps, preview: self._step(node_id, step, steps, preview),
        )
        values, ui = await run_node(class_type, context, self._inputs(node_id))
        if ui is not None:
            ui = self.faults.reported_output(ui)
        self.values[node_id] = values
        self.executed.append(node_id)
        self.cache.entries[self.signatures[node_id]] = CacheEntry(values, ui)
        if ui is not None:
            self.ui_outputs[node_id] = ui
            await self._send_to_client("executed", self._executed(node_id, ui))
        maximum = self.progress[node_id]["max"]
        await self._set_progress(node_id, maximum, maximum, "finished")

    def _executed(self, node_id: str, ui: dict[str, Any] | None) -> dict[str, Any]:
        return {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": self.prompt_id}

    def _inputs(self, node_id: str) -> dict[str, Any]:
        inputs = {}
        for name, value in self.prompt[node_id].get("inputs", {}).items():
            if is_link(value):
                source, slot = value
                inputs[name] = self._values_of(source)[slot]
            elif name in _schema_inputs(self.object_info[self.prompt[node_id]["class_type"]]):
                inputs[name] = value
        return inputs

    def _values_of(self, node_id: str) -> tuple[Any, ...]:
        # cached nodes upstream of a node that runs are never scheduled: read the cache
        if node_id not in self.values:
            self.values[node_id] = self.cache.entries[self.signatures[node_id]].outputs
        return self.values[node_id]

    async def _step(self, node_id: str, step: int, steps: int, preview: Image.Image) -> None:
        await asyncio.sleep(self.step_seconds)
        if self.interrupted():
            raise Interrupted
        await self._set_progress(node_id, step, steps, "running")
        progress = {"value": step, "max": steps, "prompt_id": self.prompt_id, "node": node_id}
        buffer = io.BytesIO()
        preview.save(buffer, format="JPEG")
        if step == 1:
            await self._flood(progress, buffer.getvalue())
        if self.hub.wants_metadata(self.client_id):
            metadata = {
                "node_id": node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
                "image_type": "image/jpeg",
            }
            await self.hub.send_preview(buffer.getvalue(), self.client_id, metadata)
            await self.hub.send("progress", progress, self.client_id)
        else:
            await self.hub.send("progress", progress, self.client_id)
            await self.hub.send_preview(buffer.getvalue(), self.client_id, None)

    async def _flood(self, progress: dict[str, Any], jpeg: bytes) -> None:
        """The malicious mode's flood of progress frames and previews (``event_flood``)."""
        image = self.faults.flood_preview or jpeg
        for _ in range(self.faults.event_flood):
            await self.hub.send("progress", progress, self.client_id)
            await self.hub.send_preview(image, self.client_id, None)

    async def _set_progress(self, node_id: str, value: float, maximum: float, state: str) -> None:
        self.progress[node_id] = {
            "value": value,
            "max": maximum,
            "state": state,
            "node_id": node_id,
            "prompt_id": self.prompt_id,
            "display_node_id": node_id,
            "parent_node_id": None,
            "real_node_id": node_id,
        }
        nodes = {key: dict(entry) for key, entry in self.progress.items()}
        await self.hub.send(
            "progress_state", {"prompt_id": self.prompt_id, "nodes": nodes}, self.client_id
        )

    def _failure(self, node_id: str | None) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id,
            "node_id": node_id,
            "node_type": self.prompt[node_id]["class_type"] if node_id else None,
            "executed": list(reversed(self.executed)),
        }

    def _exception_details(self, node_id: str | None, exc: Exception) -> dict[str, Any]:
        if isinstance(exc, InjectedError):
            type_name = exc.type_name
        elif type(exc).__module__ == "builtins":
            type_name = type(exc).__qualname__
        else:
            type_name = f"{type(exc).__module__}.{type(exc).__qualname__}"
        inputs = self.prompt[node_id].get("inputs", {}) if node_id else {}
        return {
            "exception_message": str(exc),
            "exception_type": type_name,
            "traceback": traceback.format_tb(exc.__traceback__),
            "current_inputs": {name: [repr(value)] for name, value in inputs.items()},
            "current_outputs": list(self.prompt),
        }

    def _meta(self) -> dict[str, Any]:
        return {
            node_id: {
                "node_id": node_id,
                "display_node": node_id,
                "parent_node": None,
                "real_node_id": node_id,
            }
            for node_id in self.ui_outputs
        }


def _schema_inputs(schema: dict[str, Any]) -> set[str]:
    return set(schema["input"].get("required", {})) | set(schema["input"].get("optional", {}))


def _signatures(prompt: dict[str, Any], input_dir: Path) -> dict[str, str]:
    """Input signature per node: class, inputs and the signatures of everything upstream."""
    signatures: dict[str, str] = {}

    def signature(node_id: str) -> str:
        if node_id not in signatures:
            node = prompt[node_id]
            parts = [node["class_type"]]
            for name, value in sorted(node.get("inputs", {}).items()):
                if is_link(value) and value[0] in prompt:
                    parts.append(f"{name}=<{signature(value[0])}:{value[1]}>")
                else:
                    parts.append(f"{name}={value!r}")
            if node["class_type"] == "LoadImage":  # the real node's IS_CHANGED hashes the file
                path = input_dir / str(node["inputs"].get("image", ""))
                parts.append(
                    hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
                )
            signatures[node_id] = hashlib.sha256("|".join(parts).encode()).hexdigest()
        return signatures[node_id]

    for node_id in prompt:
        signature(node_id)
    return signatures


class _ExecutionPlan:
    """ComfyUI's ExecutionList: depth-first registration, then a UX-friendly ready-node pick."""

    def __init__(
        self,
        prompt: dict[str, Any],
        object_info: dict[str, Any],
        cached: Callable[[str], bool],
    ) -> None:
        self.prompt = prompt
        self.object_info = object_info
        self.cached = cached
        self.pending: dict[str, None] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, None]] = {}

    def add_node(self, root: str) -> None:
        stack = [root]
        links = []
        while stack:
            node_id = stack.pop()
            if node_id in self.pending:
                continue
            self.pending[node_id] = None
            self.block_count[node_id] = 0
            self.blocking[node_id] = {}
            for value in self.prompt[node_id].get("inputs", {}).values():
                if is_link(value):
                    if not self.cached(value[0]):
                        stack.append(value[0])
                    links.append((value[0], node_id))
        for source, target in links:
            if self.cached(source):
                continue
            if target not in self.blocking[source]:
                self.blocking[source][target] = None
                self.block_count[target] += 1

    def _is_output(self, node_id: str) -> bool:
        return bool(self.object_info[self.prompt[node_id]["class_type"]].get("output_node"))

    def next_node(self) -> str | None:
        ready = [node_id for node_id in self.pending if self.block_count[node_id] == 0]
        if not ready:
            return None
        for node_id in ready:
            if self._is_output(node_id):
                return node_id
        for node_id in ready:
            if any(self._is_output(blocked) for blocked in self.blocking[node_id]):
                return node_id
        for node_id in ready:
            for blocked in self.blocking[node_id]:
                if any(self._is_output(after) for after in self.blocking[blocked]):
                    return node_id
        return ready[0]

    def complete(self, node_id: str) -> None:
        del self.pending[node_id]
        for blocked in self.blocking[node_id]:
            self.block_count[blocked] -= 1
