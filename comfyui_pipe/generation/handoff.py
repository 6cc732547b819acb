"""How long our hand-off between two jobs on one server takes, learnt as it happens.

Between a job ending on ComfyUI and the next one queued there, the dispatcher looks at
the shared queue and the next job's prompt is posted: a server with nothing pending
idles that long. So a server is given a pending job once the work it holds should end
within a margin of that time (:attr:`HandOff.horizon`), and not sooner: a job sent
early is committed to that server while another might have started it first.
"""

from __future__ import annotations

SMOOTHING = 0.2
MARGIN = 2.0
"""The horizon is this many hand-offs: a look or a post may take twice its usual time."""
SHORTEST = 0.5
"""Seconds: the horizon is never shorter. What is timed leaves out the way from ComfyUI's
end of a job to the look it wakes (its last events, read on a busy event loop); the
fixed horizon before this one (0.5 s) hid it on the bench."""
PRIOR = 0.5
"""Seconds, until a look and a post were timed."""


class HandOff:
    def __init__(self) -> None:
        self._look: float | None = None
        self._post: float | None = None

    def looked(self, seconds: float) -> None:
        """A look at the shared queue took ``seconds``."""
        self._look = _average(self._look, seconds)

    def posted(self, seconds: float) -> None:
        """A job sent to a server was queued there ``seconds`` after it was placed."""
        self._post = _average(self._post, seconds)

    @property
    def horizon(self) -> float:
        """Seconds of work a server should still hold when it is given its next job."""
        if self._look is None or self._post is None:
            return PRIOR
        return max(SHORTEST, MARGIN * (self._look + self._post))


def _average(known: float | None, value: float) -> float:
    return value if known is None else known + SMOOTHING * (value - known)
