"""Users' weights in the queue, from the admin's weights for Open WebUI's groups.

A user weighs the highest weight of the listed groups they belong to (directly or
through a child group), 1 when they belong to none. Memberships are looked up in
Open WebUI's database once per ``MEMBERSHIP_TTL`` per user, and only while the admin
has weighted some group.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping

from comfyui_pipe.openwebui.host import HostUsers

MEMBERSHIP_TTL = 10.0
"""Seconds a user's looked-up weight is used before their groups are read again."""


class GroupWeights:
    """The host's ``QueueWeights``: configured with ``{group name: weight}`` (names
    compared without case)."""

    def __init__(self, users: HostUsers, clock: Callable[[], float] = time.monotonic) -> None:
        self._users = users
        self._clock = clock
        self._by_group: dict[str, float] = {}
        self._known: dict[str, tuple[float, float]] = {}  # user id -> (looked up at, weight)

    def configure(self, by_group: Mapping[str, float]) -> None:
        weights = {name.casefold(): weight for name, weight in by_group.items()}
        if weights != self._by_group:
            self._by_group = weights
            self._known.clear()

    async def weights(self, owner_ids: Collection[str]) -> Mapping[str, float]:
        if not self._by_group:
            return {}
        now = self._clock()
        stale = [
            owner
            for owner in owner_ids
            if owner not in self._known or now - self._known[owner][0] >= MEMBERSHIP_TTL
        ]
        if stale:
            groups = await self._users.group_names(stale)
            for owner in stale:
                names = {name.casefold() for name in groups[owner]}
                listed = [self._by_group[name] for name in names if name in self._by_group]
                self._known[owner] = (now, max(listed, default=1.0))
        return {owner: self._known[owner][1] for owner in owner_ids}
