"""The job table's rules on both databases Open WebUI runs on (SQLite, and a throwaway
PostgreSQL): the per-user limit under concurrent starts, compare-and-set writes, adoption,
and the upgrade of a table an older version created."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from comfyui_pipe.generation.failures import Failure, FailureKind
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.transitions import (
    Delivered,
    Dispatch,
    Fail,
    Requeue,
    Start,
    transition,
)
from comfyui_pipe.openwebui.store import jobs_table
from comfyui_pipe.openwebui.store.jobs_table import SqlJobStore, create_job_table

from .local_servers import postgres_cluster


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'webui.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[list[AsyncEngine]]:
    """Three engines on one database: as many processes, each with its own connections."""
    engines = [create_async_engine(database_url) for _ in range(3)]
    try:
        yield engines
        async with engines[0].begin() as connection:
            await connection.run_sync(jobs_table.metadata.drop_all)
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.fixture
def engine(engines: list[AsyncEngine]) -> AsyncEngine:
    return engines[0]


def job(job_id: str, owner_id: str = "ada", worker_id: str | None = "worker-1") -> JobRecord:
    return JobRecord(
        id=job_id,
        owner_id=owner_id,
        workflow_id="sd15_txt2img",
        params={"prompt": "a lighthouse"},
        state=JobState.QUEUED,
        created_at=time.time(),
        worker_id=worker_id,
    )


async def test_concurrent_starts_of_one_user_stop_at_the_limit(
    engines: list[AsyncEngine],
) -> None:
    await create_job_table(engines[0])
    stores = [SqlJobStore(engine) for engine in engines]

    created = await asyncio.gather(
        *(stores[n % 3].create(job(f"job-{n}"), 2) for n in range(12)),
        stores[0].create(job("bob-1", owner_id="bob"), 2),
    )

    assert sum(created[:12]) == 2 and created[12] is True
    assert len(await stores[0].unfinished()) == 3


async def test_a_late_progress_write_never_overtakes_the_end(engine: AsyncEngine) -> None:
    await create_job_table(engine)
    store = SqlJobStore(engine)
    record = job("job-1")
    await store.create(record, 2)
    progress = replace(record, state=JobState.RUNNING, progress={"stage": "sampling"})
    ended = replace(record, state=JobState.FAILED, failure=Failure(FailureKind.TIMED_OUT))

    assert await store.update(ended) is True
    assert await store.update(progress) is False
    assert (await store.get("job-1")).state is JobState.FAILED
    assert await store.unfinished() == []


async def test_only_the_owner_writes_and_one_adopter_wins(engine: AsyncEngine) -> None:
    await create_job_table(engine)
    store = SqlJobStore(engine)
    await store.create(job("job-1"), 2)

    adopted = await asyncio.gather(
        *(store.adopt("job-1", "worker-1", f"adopter-{n}") for n in range(4))
    )

    assert sorted(adopted) == [False, False, False, True]
    new_owner = (await store.get("job-1")).worker_id
    assert await store.update(replace(job("job-1"), state=JobState.RUNNING)) is False
    assert await store.update(job("job-1", worker_id=new_owner)) is True


NEWER_COLUMNS = (
    "worker_id",
    "client_id",
    "prompt",
    "claimed_file_ids",
    "attempt",
    "awaits_delivery",
)


async def test_a_table_of_an_older_version_gains_the_new_columns(engine: AsyncEngine) -> None:
    old_columns = [
        column for column in jobs_table.job_table.columns if column.name not in NEWER_COLUMNS
    ]
    async with engine.begin() as connection:
        columns = ", ".join(
            f"{c.name} {c.type.compile(dialect=connection.dialect)}" for c in old_columns
        )
        await connection.execute(text(f"CREATE TABLE comfyui_pipe_job ({columns})"))
        await connection.execute(
            text(
                "INSERT INTO comfyui_pipe_job (id, owner_id, workflow_id, params, state,"
                " created_at, output_file_ids) VALUES ('old', 'ada', 'sd15_txt2img', '{}',"
                " 'completed', 1.0, '[\"file-1\"]')"
            )
        )

    await create_job_table(engine)
    store = SqlJobStore(engine)

    old = await store.get("old")
    assert (old.state, old.output_file_ids, old.claimed_file_ids) == (
        JobState.COMPLETED,
        ["file-1"],
        [],
    )
    assert (old.attempt, old.awaits_delivery) == (1, False)
    await store.create(job("new"), 2)
    assert [queued.id for queued in await store.unfinished()] == ["new"]
    assert await store.undelivered() == []
    async with engine.connect() as connection:
        indexes = await connection.run_sync(
            lambda sync: {i["name"] for i in inspect(sync).get_indexes("comfyui_pipe_job")}
        )
    assert "comfyui_pipe_job_delivery_idx" in indexes


async def test_an_attempt_is_kept_and_an_undelivered_end_is_adopted_once_then_delivered(
    engine: AsyncEngine,
) -> None:
    await create_job_table(engine)
    store = SqlJobStore(engine)
    record = replace(job("chat-1"), chat_id="c", message_id="m", backend="b", prompt_id="p")
    await store.create(record, 2)
    running = transition(record, Start(at=2.0))
    assert await store.update(transition(running, Requeue(ran=True)))
    assert [queued.attempt for queued in await store.unfinished()] == [2]
    ended = transition(
        transition(await store.get("chat-1"), Dispatch("b", "p-2", "c-1")),
        Fail(Failure(FailureKind.NODE_FAILED), at=3.0),
    )
    assert ended.awaits_delivery and await store.update(ended)
    assert [queued.id for queued in await store.undelivered()] == ["chat-1"]

    adopted = await asyncio.gather(
        *(store.adopt("chat-1", "worker-1", f"adopter-{n}") for n in range(3))
    )

    assert sorted(adopted) == [False, False, True]
    taken = await store.get("chat-1")
    assert (taken.state, taken.attempt) == (JobState.FAILED, 2)
    assert await store.delivered(ended) is False  # the dead owner no longer owns it
    assert await store.delivered(transition(taken, Delivered())) is True
    assert await store.undelivered() == []
    assert await store.adopt("chat-1", taken.worker_id, "another") is False
