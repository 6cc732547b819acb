"""A ComfyUI job's listener for tests: keeps every update it is told and waits for one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from comfyui_pipe.comfy import JobUpdate


class Updates:
    def __init__(self) -> None:
        self.seen: list[JobUpdate] = []
        self._arrived = asyncio.Event()

    def __call__(self, update: JobUpdate) -> None:
        self.seen.append(update)
        self._arrived.set()

    def of(self, kind: type) -> list[JobUpdate]:
        return [update for update in self.seen if isinstance(update, kind)]

    async def first(self, wanted: Callable[[JobUpdate], bool]) -> JobUpdate:
        """The first update ``wanted`` accepts, waiting up to five seconds for it."""
        async with asyncio.timeout(5):
            while True:
                found = next((update for update in self.seen if wanted(update)), None)
                if found is not None:
                    return found
                self._arrived.clear()
                await self._arrived.wait()
