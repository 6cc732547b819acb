"""Where the settings live: the Pipe function's valves in Open WebUI's database (encrypted
there), the same store the admin form and our PUT /settings write; and a watch that
notices a change another process stored.

Open WebUI stamps the function row's ``updated_at`` (whole seconds, by the clock of the
process that saved) whenever its valves are saved, so the watch reads that one column
every few seconds, and the valves only when it moved, or when they were last read less
than ``SETTLE_SECONDS`` after the time it names (another save in that second would leave
it unchanged; the margin covers clocks of replicas that differ a little).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from comfyui_pipe.openwebui.host import HostPlugins

log = logging.getLogger(__name__)

WATCH_INTERVAL = 2.0
"""Seconds between looks at when the stored settings last changed."""
SETTLE_SECONDS = 2.0
"""Seconds after a save's stamp from which a read surely saw that second's saves."""


class FunctionMissing(LookupError):
    def __init__(self) -> None:
        super().__init__(
            f"The '{FUNCTION_ID}' function is not installed, so there is nowhere to save "
            "the settings; restart Open WebUI to install it again."
        )


@dataclass(frozen=True)
class Stored:
    values: dict[str, Any]
    """As saved: Open WebUI's form saves only the values it was given."""
    changed_at: int | None
    read_at: float
    """Wall-clock time just before the read."""


class ConfigStore:
    def __init__(self, plugins: HostPlugins, clock: Callable[[], float] = time.time) -> None:
        self._plugins = plugins
        self._clock = clock

    async def read(self) -> Stored:
        read_at = self._clock()
        stored = await self._plugins.valves(FUNCTION_ID)
        return Stored(stored.values, stored.changed_at, read_at)

    async def changed_at(self) -> int | None:
        return await self._plugins.changed_at(FUNCTION_ID)

    async def write(self, values: dict[str, Any]) -> None:
        """Stores ``values``, the settings an admin set (as Open WebUI's form does)."""
        if not await self._plugins.save_valves(FUNCTION_ID, values):
            raise FunctionMissing()


class ConfigWatch:
    """Calls ``reload`` when the stored settings may have changed since ``loaded``."""

    def __init__(
        self,
        changed_at: Callable[[], Awaitable[int | None]],
        reload: Callable[[], Awaitable[object]],
        interval: float = WATCH_INTERVAL,
    ) -> None:
        self._changed_at = changed_at
        self._reload = reload
        self._interval = interval
        self._seen: Stored | None = None
        self._task: asyncio.Task[None] | None = None

    def loaded(self, stored: Stored) -> None:
        """What the settings in use were read from."""
        self._seen = stored

    async def check(self) -> bool:
        """Reload when the row changed, or may have changed unseen; whether it did."""
        changed_at = await self._changed_at()
        seen = self._seen
        if seen is not None and changed_at == seen.changed_at:
            if changed_at is None or seen.read_at >= changed_at + SETTLE_SECONDS:
                return False
        await self._reload()
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="comfyui-pipe-config-watch")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception:
                log.exception("Looking for changed ComfyUI settings failed")
