"""Fault knobs: each one changes what a client of the double sees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


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


def _lookup(table: dict[str, T], path: str) -> T | None:
    for key, value in table.items():
        if path == key or path.startswith(key.rstrip("/") + "/"):
            return value
    return None
