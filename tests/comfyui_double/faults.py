"""Fault knobs: each one changes what a client of the double sees."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


HTML_PAGE = b"<!doctype html><html><body><script>fetch('/api/v1/auths/')</script></body></html>"
SVG_IMAGE = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"/>'
"""Files a malicious server reports as outputs: run in a browser on the host's origin."""


@dataclass(frozen=True)
class ForgedOutput:
    """A file a malicious server (or custom node) reports as an output: any name, under
    any key of the node's output, with any bytes, served by ``/view``."""

    filename: str
    data: bytes = b""
    key: str = "images"
    size: int | None = None
    """Bytes ``/view`` streams in all: ``data``, then zeros up to ``size`` (an oversized
    output that is never written to disk)."""
    content_type: str | None = None
    """The Content-Type ``/view`` answers with (by default guessed from the name, as the
    real server does)."""

    def chunks(self, chunk_size: int = 2**20) -> Iterator[bytes]:
        yield self.data
        left = max(0, (self.size or 0) - len(self.data))
        while left > 0:
            yield bytes(min(chunk_size, left))
            left -= chunk_size


@dataclass
class Faults:
    """Mutable at any time during a test; read by the server on every request or event."""

    silent: bool = False
    """Keep sockets open but send nothing."""
    unregister_reconnected: bool = False
    """Reproduce the real server bug: when a replaced socket's handler ends it unregisters
    the newer socket registered under the same clientId."""
    slow_routes: dict[str, float] = field(default_factory=dict)
    """path (without the /api prefix) -> seconds to wait before answering. A key also
    matches the paths below it: "/history" slows "/history/<id>"."""
    failing_routes: dict[str, int] = field(default_factory=dict)
    """path (without the /api prefix) -> HTTP status to answer with instead."""
    error_on_node: dict[str, tuple[str, str]] = field(default_factory=dict)
    """class_type or node id -> (exception_type, exception_message) raised when it runs."""
    # -- the malicious mode: a server that lies about its outputs and floods its events --
    forged_outputs: list[ForgedOutput] = field(default_factory=list)
    """What every output node reports instead of the files it saved."""
    event_flood: int = 0
    """Progress frames, each followed by a binary preview, sent for a prompt's first
    sampling step on top of the real ones."""
    flood_preview: bytes = b""
    """The image of each preview of the flood (by default the step's own JPEG)."""
    _drop: Callable[[], None] = field(default=lambda: None, repr=False)

    def drop_sockets(self) -> None:
        """Close every open WebSocket now; execution goes on."""
        self._drop()

    def route_delay(self, path: str) -> float:
        return _lookup(self.slow_routes, path) or 0.0

    def route_status(self, path: str) -> int | None:
        return _lookup(self.failing_routes, path)

    def node_error(self, node_id: str, class_type: str) -> tuple[str, str] | None:
        return self.error_on_node.get(node_id) or self.error_on_node.get(class_type)

    def reported_output(self, ui: dict[str, Any]) -> dict[str, Any]:
        """The output a node reports for its real ``ui`` (the forged files, if any)."""
        if not self.forged_outputs:
            return ui
        reported: dict[str, Any] = {}
        for forged in self.forged_outputs:
            item = {"filename": forged.filename, "subfolder": "", "type": "output"}
            reported.setdefault(forged.key, []).append(item)
        return reported

    def forged_file(self, filename: str) -> ForgedOutput | None:
        return next((f for f in self.forged_outputs if f.filename == filename), None)


def _lookup(table: dict[str, T], path: str) -> T | None:
    for key, value in table.items():
        if path == key or path.startswith(key.rstrip("/") + "/"):
            return value
    return None
