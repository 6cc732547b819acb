"""The plain values ``host.py`` answers with: what the rest of ``openwebui/`` knows of Open
WebUI's users, rows, emitters and forwarded-user settings, without importing Open WebUI
(only ``host.py`` does)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Emitter = Callable[[dict[str, Any]], Awaitable[Any]]
"""Open WebUI's event emitter (and event caller) of a chat message."""


class User(Protocol):
    """A signed-in Open WebUI user, as Open WebUI hands it back to its own checks."""

    @property
    def id(self) -> str: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class HostFile:
    """A row of Open WebUI's files table."""

    id: str
    user_id: str
    filename: str
    path: str | None
    meta: Mapping[str, Any]


@dataclass(frozen=True)
class ModelRow:
    """A chat model's row (its admin settings) in Open WebUI."""

    id: str
    name: str
    description: str | None
    is_active: bool


@dataclass(frozen=True)
class PluginRow:
    """A stored function or tool: its source, and for a tool its specs."""

    content: str
    is_active: bool = True
    specs: Any = None


@dataclass(frozen=True)
class StoredValves:
    """A function's valves as saved, and when its row last changed (whole seconds)."""

    values: dict[str, Any]
    changed_at: int | None


@dataclass(frozen=True)
class UserForwarding:
    """What Open WebUI tells an engine of the user it calls for (``ENABLE_FORWARD_*``)."""

    enabled: bool
    id_header: str
    jwt_header: str
    jwt_secret: str | None
