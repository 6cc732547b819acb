"""Regression test for D2: with ``job_timeout=1`` and 8 concurrent slow jobs in 4 rounds,
records stayed ``queued`` forever (a progress save still in flight committed after the
final "failed" write). Here every progress write takes a while to reach the store, so
late ones land after the end: every record still ends, with a sentence."""

from __future__ import annotations

import asyncio
import random

from conftest import MODELS, MemoryJobStore, ServiceFactory
from test_generation_service import ask

from comfyui_pipe.generation import FailureKind, JobRecord, JobState, Policy


class SlowWrites(MemoryJobStore):
    """A database whose progress writes commit after a random delay (seeded), often after
    the job's timeout: they are still in flight when the job's end is written."""

    def __init__(self) -> None:
        super().__init__()
        self._random = random.Random(2)

    async def update(self, record: JobRecord) -> bool:
        if not record.state.terminal:
            await asyncio.sleep(self._random.uniform(0, 1.5))
        return await super().update(record)


async def test_every_record_of_timed_out_slow_jobs_ends(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.1)
    store = SlowWrites()
    service = await make_service([double.url], Policy(jobs_per_user=8, job_timeout=1), store=store)

    for round_number in range(4):
        records = [
            await service.start(ask(f"a lighthouse #{round_number}.{n} --steps 30"))
            for n in range(8)
        ]
        ended = await asyncio.gather(*(service.wait(record.id) for record in records))

        assert {record.state for record in ended} == {JobState.FAILED}
        stored = [store.records[record.id] for record in records]
        assert [record.state for record in stored] == [JobState.FAILED] * 8
        assert {record.failure.kind for record in stored if record.failure} == {
            FailureKind.TIMED_OUT
        }
    assert await store.unfinished() == []
