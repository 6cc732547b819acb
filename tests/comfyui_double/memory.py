"""The checkpoints a double holds in memory, and what loading one costs.

With ``load_seconds``, a checkpoint (or diffusion model) the double does not hold takes
that long to load, like a real server reading a file into VRAM; at most ``capacity``
stay loaded, the least recently used evicted first (None: all stay). A restart
forgets them all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class ModelMemory:
    load_seconds: float = 0.0
    capacity: int | None = None
    loaded: list[str] = field(default_factory=list)
    """Held models, the most recently used last."""
    loads: list[str] = field(default_factory=list)
    """Every model loaded, in order (a switch each, once the first is in)."""

    async def use(self, name: str) -> None:
        if name in self.loaded:
            self.loaded.remove(name)
            self.loaded.append(name)
            return
        if self.load_seconds > 0:
            await asyncio.sleep(self.load_seconds)
        self.loads.append(name)
        self.loaded.append(name)
        if self.capacity is not None:
            del self.loaded[: max(len(self.loaded) - self.capacity, 0)]

    def forget(self) -> None:
        self.loaded.clear()
