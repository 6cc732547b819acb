"""Which of a fast stream of states to send, and when: never a stale one, never a milestone lost.

A state whose *milestone* (for progress: stage and step) differs from the one
before it is due at once, and kept until sent even when newer states follow.
A state with the same milestone as the one before it is an update: it waits
for the end of the throttle window that the last send opened (its length may
depend on the milestone: a job waiting in line can be told less often than a
running one), and a newer state offered meanwhile replaces it, so what is sent
at the window's end is always the newest state. Nothing here sleeps or sends:
the caller asks :meth:`LatestWins.due_at` when to come back and
:meth:`LatestWins.take` what to send. Pure: no I/O, no asyncio.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

State = TypeVar("State")

_NOTHING_SENT = object()


@dataclass
class _Pending(Generic[State]):
    state: State
    milestone: Hashable
    new_milestone: bool


class LatestWins(Generic[State]):
    """Latest-wins coalescing of states, one throttle window after each send;
    ``window(milestone)`` is that window's length in seconds."""

    def __init__(
        self,
        window: Callable[[Hashable], float],
        milestone: Callable[[State], Hashable],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window
        self._milestone = milestone
        self._clock = clock
        self._pending: deque[_Pending[State]] = deque()
        self._sent_milestone: Hashable = _NOTHING_SENT
        self._sent_at = float("-inf")

    def offer(self, state: State) -> None:
        """Keep ``state`` to send: it replaces a kept state of its own milestone, or a kept
        update that a new milestone makes old; a kept milestone stays."""
        milestone = self._milestone(state)
        pending = self._pending
        if pending and pending[-1].milestone == milestone:
            pending[-1].state = state
        elif pending and not pending[-1].new_milestone:
            pending[-1] = _Pending(state, milestone, True)
        else:
            before = pending[-1].milestone if pending else self._sent_milestone
            pending.append(_Pending(state, milestone, milestone != before))

    def due_at(self) -> float | None:
        """When the next kept state is to be sent (clock time; maybe already past), or None."""
        if not self._pending:
            return None
        first = self._pending[0]
        if first.new_milestone:
            return float("-inf")
        return self._sent_at + self._window(first.milestone)

    def urgent(self) -> bool:
        """Whether the next kept state is a new milestone (due at once)."""
        return bool(self._pending) and self._pending[0].new_milestone

    def take(self) -> State | None:
        """The next state to send now, if one is due; it counts as sent."""
        due = self.due_at()
        if due is None or self._clock() < due:
            return None
        return self._send()

    def take_remaining(self) -> State | None:
        """The next kept state whether due or not, for the end of the stream."""
        return self._send() if self._pending else None

    def _send(self) -> State:
        sent = self._pending.popleft()
        self._sent_milestone, self._sent_at = sent.milestone, self._clock()
        return sent.state
