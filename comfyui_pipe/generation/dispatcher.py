"""Our queue, looked at: which waiting job goes to which ComfyUI server, and when.

Each look reads the shared queue (the unfinished records of every process), ends
what ended elsewhere, gives up what waited past its deadline, moves jobs pending on
a server that stopped answering back into the queue, and launches the jobs that
``planner.plan`` sends now: users in fair turns (``FairTurns``), each job where it
should finish first. Every job of this process not started yet is told when it
should end and, while it waits, its place in our queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress

from comfyui_pipe.comfy import Backend, ComfyError, ComfyUnreachable, FollowedJob, PromptRejected
from comfyui_pipe.workflow import check_against

from .backends import BackendPool
from .costs import ServerCosts
from .failures import Failure, FailureKind
from .handoff import HandOff
from .job_costs import JobCosts
from .planner import Plan, plan
from .policy import Policy
from .records import JobState, JobStore, QueuedJob
from .run import JobRun
from .scheduler import FairTurns, QueueWeights, Weight, equal_weight
from .transitions import Fail

logger = logging.getLogger(__name__)

DISPATCH_POLL = 1.0
"""Seconds between looks at the shared queue while this process has jobs waiting or
queued on ComfyUI (other processes free servers too; servers die)."""
RUN_LOST_AFTER = 10.0
"""Seconds without its server's socket after which a running job whose server does not
answer is taken as lost (its server crashed): it runs again, there or elsewhere. A server
back sooner says itself whether it still knows the job."""


class Dispatcher:
    def __init__(
        self,
        runs: Mapping[str, JobRun],
        store: JobStore,
        pool: Callable[[], BackendPool],
        policy: Callable[[], Policy],
        costs: ServerCosts,
        handoff: HandOff,
        weights: QueueWeights | None = None,
    ) -> None:
        self._runs = runs
        self._store = store
        self._pool = pool
        self._policy = policy
        self._costs = costs
        self._handoff = handoff
        self._weights = weights
        self._turns = FairTurns()
        self._wake = asyncio.Event()
        self._looking = asyncio.Lock()
        self._runnable: dict[tuple[str, str], tuple[int, bool]] = {}
        """(job, server) → (the node schemas it was checked against, whether it runs there)."""

    def wake(self) -> None:
        """Look at the queue soon (jobs started at once leave it in one look)."""
        self._wake.set()

    def validated(self, job_id: str, url: str) -> None:
        """``job_id``'s prompt was just checked against ``url``'s current node schemas."""
        info = self._pool().cached_object_info(url)
        if info is not None:
            self._runnable[(job_id, url)] = (id(info), True)

    def forget(self, job_id: str) -> None:
        """``job_id`` ended here (and is off the list of runs)."""
        for key in [key for key in self._runnable if key[0] == job_id]:
            del self._runnable[key]
        if not self._runs:
            self._turns.idle()

    def servers_changed(self) -> None:
        self._runnable.clear()
        self._wake.set()

    async def run(self) -> None:
        while True:
            if self._runs:
                with suppress(TimeoutError):
                    async with asyncio.timeout(DISPATCH_POLL):
                        await self._wake.wait()
            else:
                await self._wake.wait()
            self._wake.clear()
            try:
                async with self._looking:
                    started = time.monotonic()
                    await self._look()
                    self._handoff.looked(time.monotonic() - started)
            except Exception:
                logger.exception("dispatching generations")

    async def _look(self) -> None:
        # Only a job that waited before the look can be missing from it because it
        # ended elsewhere: one started meanwhile is simply not in it yet.
        looked_for = [run for run in self._runs.values() if run.waiting]
        if not looked_for:  # nothing of ours waits: the shared queue need not be read
            await self._move_off_dead_servers()
            return
        unfinished = await self._store.unfinished()
        await self._end_stale(looked_for, {job.id for job in unfinished})
        await self._move_off_dead_servers()
        if any(run.waiting for run in self._runs.values()):
            await self._place(unfinished)

    async def _end_stale(self, looked_for: list[JobRun], listed: set[str]) -> None:
        for run in [run for run in looked_for if run.waiting]:
            if run.record.id not in listed:
                await run.let_go()
            elif run.deadline <= time.time():
                timeout = self._policy().job_timeout
                failure = Failure(FailureKind.TIMED_OUT, seconds=timeout, before_start=True)
                await run.end(Fail(failure, time.time()))

    async def _place(self, unfinished: list[QueuedJob]) -> None:
        view = [
            QueuedJob.of(self._runs[job.id].record) if job.id in self._runs else job
            for job in unfinished
            if job.id not in self._runs or not self._runs[job.id].left_server
        ]
        pool = self._pool()
        backends = [url for url in pool.available() if await self._known(pool, url)]
        weight = await self._weight_of({job.owner_id for job in view})
        order = self._turns.order(view, weight)
        now = time.monotonic()
        held = sorted(
            (job for job in view if job.dispatched),
            key=lambda job: (job.state is not JobState.RUNNING, job.created_at),
        )
        depth, horizon = self._policy().server_depth, self._handoff.horizon
        costs = JobCosts(self._costs, self._runs, now)
        the_plan = plan(order, held, backends, self._can_run, costs, now, horizon, depth)
        self._show(the_plan, [job.id for job in order])
        for placement in the_plan.placements:
            mine = self._runs.get(placement.job_id)
            if mine is not None and mine.waiting:
                mine.launch(pool, placement.backend)
                self._turns.served(QueuedJob.of(mine.record), weight(mine.record.owner_id))

    def _show(self, the_plan: Plan, order: list[str]) -> None:
        """Every job of ours not started yet: when it should end; and each waiting one its
        place among those waiting (by when it should start)."""
        places = the_plan.places(order)
        for job_id, expected in the_plan.expected.items():
            mine = self._runs.get(job_id)
            if mine is not None and not mine.record.state.terminal and mine.ran_from is None:
                mine.expect(expected.end, expected.ahead)
        for job_id, place in places.items():
            mine = self._runs.get(job_id)
            if mine is not None and mine.waiting:
                mine.show_position(place, len(places))

    async def _move_off_dead_servers(self) -> None:
        """A job still pending on a server that stopped answering goes back to our queue;
        a running one too once its server has been gone for ``RUN_LOST_AFTER`` (one that
        keeps its queue meanwhile, a v2 server, keeps it: ``FollowedJob.lose``)."""
        pending: dict[Backend, list[FollowedJob]] = {}
        for run in self._runs.values():
            server, job = run.server, run.job
            if job is None or server is None or server.connected:
                continue
            if not job.started or server.down_for >= RUN_LOST_AFTER:
                pending.setdefault(server, []).append(job)
        for server, jobs in pending.items():
            try:
                await server.probe()
            except ComfyUnreachable:
                self._pool().mark_down(server.url)
                for job in jobs:
                    job.lose()
            except ComfyError:
                continue

    async def _weight_of(self, owners: Collection[str]) -> Weight:
        """Each user's weight in the queue (1 unless ``weights`` says otherwise)."""
        if self._weights is None:
            return equal_weight
        try:
            weights = await self._weights.weights(owners)
        except Exception:
            logger.exception("reading the users' weights in the queue; all weigh 1 meanwhile")
            return equal_weight
        return lambda owner: weights.get(owner, 1.0)

    @staticmethod
    async def _known(pool: BackendPool, url: str) -> bool:
        """Whether ``url`` answers with its node schemas (cached)."""
        try:
            await pool.object_info(await pool.server(url))
        except ComfyError:
            pool.mark_down(url)
            return False
        return True

    def _can_run(self, job: QueuedJob, url: str) -> bool:
        """Whether ``url`` has the nodes and models of ``job`` (a job of another process:
        assumed, that process checks it; a server that checks prompts itself: assumed, its
        refusal fails the job with its words)."""
        run = self._runs.get(job.id)
        if not self._pool().checks_prompts(url):
            return True
        info = self._pool().cached_object_info(url)
        if run is None or info is None:
            return run is None
        known = self._runnable.get((job.id, url))
        if known is None or known[0] != id(info):
            try:
                check_against(run.record.prompt or {}, info)
                known = (id(info), True)
            except PromptRejected:
                known = (id(info), False)
            self._runnable[(job.id, url)] = known
        return known[1]
