"""What every job followed on a server shares, whichever protocol it speaks.

A followed job settles exactly once, from whichever source knows first (its events, a
look at the server, a cancel); its updates go to its listener synchronously, from the
task that reads them, and a listener that fails is logged, not propagated. Its runner
task ends with its outcome and stops the follower (``_follow``, the protocol's own part).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Self

from .events import Event
from .outcome import Ending, JobOutcome
from .queue import QueuePosition

logger = logging.getLogger(__name__)

JobUpdate = Event | QueuePosition
JobListener = Callable[[JobUpdate], None]


def _ignore(update: JobUpdate) -> None:
    return None


class FollowedPrompt:
    """Subclasses implement ``_follow`` (settling through ``_settle``) and may implement
    ``_stopped`` (called once the runner ends)."""

    def __init__(self, prompt_id: str, listener: JobListener | None, task_name: str) -> None:
        self.prompt_id = prompt_id
        self._listener = listener or _ignore
        self._outcome: asyncio.Future[JobOutcome] = asyncio.get_running_loop().create_future()
        # runs from the next turn of the loop: the subclass's __init__ has ended by then
        self._runner = asyncio.create_task(self._run(), name=f"{task_name}-{prompt_id}")

    @property
    def done(self) -> bool:
        return self._runner.done()

    def add_done_callback(self, callback: Callable[[Self], None]) -> None:
        self._runner.add_done_callback(lambda _: callback(self))

    async def outcome(self) -> JobOutcome:
        """How it ended: its outputs, or what ended it."""
        return await asyncio.shield(self._runner)

    async def abandon(self) -> None:
        """Stop following the job here (the server is not told); ``outcome()`` is cancelled."""
        self._runner.cancel()
        await asyncio.gather(self._runner, return_exceptions=True)

    def lose(self) -> None:
        """Give the job up as lost (its server is gone); a no-op once it has ended."""
        self._settle(self._ended(Ending.LOST))

    async def _follow(self) -> None:
        raise NotImplementedError

    def _stopped(self) -> None:
        """The runner has ended."""

    async def _run(self) -> JobOutcome:
        follower = asyncio.create_task(self._follow(), name=f"events-{self.prompt_id}")
        try:
            return await asyncio.shield(self._outcome)
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            self._stopped()

    def _settle(self, outcome: JobOutcome) -> None:
        if not self._outcome.done():
            self._outcome.set_result(outcome)

    def _ended(self, ending: Ending) -> JobOutcome:
        return JobOutcome(self.prompt_id, ending)

    def _tell(self, update: JobUpdate) -> None:
        try:
            self._listener(update)
        except Exception:
            logger.exception("the listener of %s failed on %s", self.prompt_id, type(update))
