"""What the hand-over tests share: a chat job followed on the process that takes it over
(its live statuses on a Socket.IO client there), and what the processes logged."""

from __future__ import annotations

import re
import time
from datetime import datetime

from openwebui.test_chat import SocketRecorder

from .hosts import Host

UNRETRIEVED = "never retrieved"
"""asyncio's words for a task whose exception nobody awaited."""
_ADOPTED = re.compile(r"^(\S+ \S+) \| INFO .* adopting generation (\w+)$", re.MULTILINE)


def adopted_at(host: Host, job_id: str) -> float | None:
    """When ``host`` logged that it adopted ``job_id`` (seconds since the epoch)."""
    for stamp, adopted in _ADOPTED.findall(host.logs()):
        if adopted == job_id:
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
    return None


async def first_sampling_status(recorder: SocketRecorder, message_id: str, within: float) -> str:
    """The first 'Sampling n/N' status of ``message_id`` that reaches ``recorder``."""

    def sampling() -> list[str]:
        return [s for s in recorder.statuses(message_id) if s.startswith("Sampling ")]

    await recorder.wait_for(sampling, within)
    return sampling()[0]


def sampling_seen_within(
    host: Host, recorder: SocketRecorder, message_id: str, job_id: str
) -> float:
    """Seconds from ``host`` adopting ``job_id`` to ``recorder`` holding a sampling status
    of its message (call as soon as it holds one)."""
    adopted = adopted_at(host, job_id)
    assert adopted is not None, f"{host.name} never logged adopting {job_id}"
    assert any(s.startswith("Sampling ") for s in recorder.statuses(message_id))
    return time.time() - adopted


def unretrieved_tasks(*hosts: Host) -> list[str]:
    """Lines of the hosts' logs that report a task exception nobody awaited."""
    return [line for host in hosts for line in host.logs().splitlines() if UNRETRIEVED in line]
