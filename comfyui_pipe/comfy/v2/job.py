"""One job on a Comfy API v2 server, followed from its queue to its end.

The job itself (``GET /jobs/{id}``) is the truth; its server-sent events are a live
view of it that is not replayed. So: while it waits in the server's queue its place is
looked at every ``poll`` seconds; once it runs, its event stream gives its progress and
previews as they come; whenever the stream ends (the job ended, the connection dropped,
the server refused one more stream) the job is looked at again — and while the server
does not answer, again and again, a little less often each time. It settles once, from
the job's state when that is over, or when it is cancelled or given up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from ..errors import ComfyError
from ..events import ExecutionStart
from ..followed import FollowedPrompt, JobListener
from ..job import JobTimeouts
from ..outcome import Ending
from .client import V2Client
from .translate import EXPIRED, QUEUED, TERMINAL, LiveEvents, outcome_of, place_in_line

logger = logging.getLogger(__name__)

POLL = 1.0
"""Seconds between looks at a job waiting in the server's queue."""
LONGEST_PAUSE = 10.0
"""The most seconds between looks while the server does not answer."""


class V2Job(FollowedPrompt):
    """Made by ``V2Server.submit`` (or ``adopt``); its outcome is ``outcome()``."""

    def __init__(
        self,
        prompt_id: str,
        client: V2Client,
        timeouts: JobTimeouts,
        listener: JobListener | None = None,
        poll: float = POLL,
    ) -> None:
        super().__init__(prompt_id, listener, "comfy-v2-job")
        self._client = client
        self._timeouts = timeouts
        self._poll = poll
        self._started = False
        self._cancelling = False

    @property
    def started(self) -> bool:
        return self._started

    async def reconcile(self) -> None:
        """Nothing to do: it looks at the job itself whenever its events stop."""

    def lose(self) -> None:
        """Nothing to do: a v2 server keeps its queue while it cannot be reached (Comfy
        Cloud, a proxy restarting), so the job is still looked at until the server answers
        or the job's deadline gives it up — sent elsewhere meanwhile, it could run twice."""

    async def cancel(self) -> None:
        """Cancel it on the server and wait, bounded, until the server says it is over."""
        if self._outcome.done():
            return
        self._cancelling = True
        try:
            async with asyncio.timeout(self._timeouts.cancel):
                job = await self._client.cancel(self.prompt_id)
                if job is None or job.get("status") in TERMINAL:
                    self._settle(outcome_of(job or {"id": self.prompt_id}, cancelling=True))
                await asyncio.wait([self._outcome])
        except (TimeoutError, ComfyError) as error:
            logger.info("cancelling %s on the server: %s", self.prompt_id, error or "timed out")
        self._settle(self._ended(Ending.INTERRUPTED))

    async def _follow(self) -> None:
        live = LiveEvents(self.prompt_id)
        looked_again = False
        while not self._outcome.done():
            job = await self._look()
            if job is not None and job.get("status") == EXPIRED and not looked_again:
                # comfy-api-proxy reads ComfyUI's history, then its queue: a job that ends
                # between the two reads is neither, so "expired" for a moment
                looked_again = True
                await asyncio.sleep(self._poll)
                continue
            if job is None or job.get("status") in TERMINAL:
                self._settle(outcome_of(job or {"id": self.prompt_id}, self._cancelling))
                return
            if job.get("status") == QUEUED:
                if (place := place_in_line(job)) is not None:
                    self._tell(place)
                await asyncio.sleep(self._poll)
                continue
            self._start()
            if not await self._listen(live):
                await asyncio.sleep(
                    self._poll
                )  # a stream that ends at once is not reopened at once

    async def _look(self) -> Mapping[str, Any] | None:
        """The job as the server has it now (None: it does not know it); waits while the
        server does not answer."""
        pause = self._poll
        while True:
            try:
                job = await self._client.resolve(self.prompt_id)
            except ComfyError as error:
                logger.info("looking at %s: %s", self.prompt_id, error)
                await asyncio.sleep(pause)
                pause = min(2 * pause, LONGEST_PAUSE)
                continue
            if job is not None and job.get("id"):
                self.prompt_id = str(job["id"])
            return job

    async def _listen(self, live: LiveEvents) -> bool:
        """Its live events, until its stream ends; whether the stream said it is over."""
        live.job_id = self.prompt_id
        try:
            async with self._client.events(self.prompt_id) as events:
                async for event in events:
                    if event.name == "status" and event.data.get("status") in TERMINAL:
                        return True
                    for update in live.translated(event):
                        self._tell(update)
        except ComfyError as error:  # dropped, or e.g. 429: too many streams
            logger.info("the events of %s stopped: %s", self.prompt_id, error)
        return False

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._tell(ExecutionStart(self.prompt_id))
