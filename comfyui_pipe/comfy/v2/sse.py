"""Server-sent events as a Comfy API v2 server sends a job's: ``event:`` and ``data:``
(JSON) lines, a blank line after each event, ``:`` comments as heartbeats."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServerEvent:
    name: str
    data: dict[str, Any] = field(default_factory=dict)


async def server_events(lines: AsyncIterable[str]) -> AsyncIterator[ServerEvent]:
    """The events of a stream's lines; an event whose data is not a JSON object is
    skipped (the next one, or a look at the job, says what it would have)."""
    name, data = "message", list[str]()
    async for line in lines:
        if not line:
            event = _event(name, data)
            if event is not None:
                yield event
            name, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            field_name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field_name == "event":
                name = value
            elif field_name == "data":
                data.append(value)


def _event(name: str, data: list[str]) -> ServerEvent | None:
    if not data:
        return None
    try:
        decoded = json.loads("\n".join(data))
    except ValueError:
        return None
    return ServerEvent(name, decoded) if isinstance(decoded, dict) else None
