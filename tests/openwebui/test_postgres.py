"""The plugin's two tables on PostgreSQL (the rest of the suite runs on SQLite).

A throwaway cluster is started for this module (see ``durability.local_servers``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from durability.local_servers import postgres_cluster
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from comfyui_pipe.comfy.problems import Problem, ProblemKind
from comfyui_pipe.generation.failures import Failure, FailureKind
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.openwebui.store import jobs_table, workflow_store
from comfyui_pipe.openwebui.store.jobs_table import SqlJobStore, create_job_table
from comfyui_pipe.openwebui.store.workflow_store import SqlWorkflowStore, create_workflow_table
from comfyui_pipe.workflow import bundled_workflows


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A running cluster on 127.0.0.1, as the URL Open WebUI's ``DATABASE_URL`` would be."""
    with postgres_cluster() as url:
        yield url


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the cluster; each test starts without the plugin's tables."""
    engine = create_async_engine(postgres_url)
    try:
        yield engine
        async with engine.begin() as connection:
            await connection.run_sync(jobs_table.metadata.drop_all)
            await connection.run_sync(workflow_store.metadata.drop_all)
    finally:
        await engine.dispose()


async def create_tables(engine: AsyncEngine) -> None:
    await create_job_table(engine)
    await create_workflow_table(engine)


def job(job_id: str, owner_id: str, created_at: float) -> JobRecord:
    return JobRecord(
        id=job_id,
        owner_id=owner_id,
        workflow_id="sd15_txt2img",
        params={"prompt": "a lighthouse", "seed": 7},
        state=JobState.QUEUED,
        created_at=created_at,
    )


async def test_creating_the_tables_again_keeps_what_they_hold(engine):
    await create_tables(engine)
    jobs = SqlJobStore(engine)
    await jobs.create(job("kept", "ada", time.time()))

    await create_tables(engine)

    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert {"comfyui_pipe_job", "comfyui_pipe_workflow"} <= set(tables)
    assert (await jobs.get("kept")).owner_id == "ada"


async def test_a_job_comes_back_as_it_was_stored_and_updated(engine):
    await create_tables(engine)
    jobs = SqlJobStore(engine)
    queued_at = time.time()
    record = JobRecord(
        id="job-1",
        owner_id="ada",
        chat_id="chat-1",
        message_id="message-1",
        workflow_id="sdxl_txt2img",
        params={
            "prompt": "café au lait, «latte art» ☕",
            "seed": 2**40 + 3,
            "cfg": 6.5,
            "loras": [{"name": "detail.safetensors", "strength": 0.75}],
            "stages": {"refiner": {"enabled": False}},
        },
        state=JobState.QUEUED,
        created_at=queued_at,
    )
    await jobs.create(record)
    assert await jobs.get("job-1") == record

    record = dataclasses.replace(
        record,
        state=JobState.COMPLETED,
        backend="http://gpu-1:8188",
        prompt_id="4f6a0c1e-prompt",
        started_at=queued_at + 0.125,
        finished_at=queued_at + 12.375,
        output_file_ids=["file-a", "file-b"],
        progress={"stage": "sampling", "value": 20, "max": 20, "node": "3"},
    )
    await jobs.update(record)

    stored = await jobs.get("job-1")
    assert stored == record
    assert stored.state is JobState.COMPLETED
    assert await jobs.get("no-such-job") is None


async def test_a_failed_job_keeps_its_error_and_clears_nothing_else(engine):
    await create_tables(engine)
    jobs = SqlJobStore(engine)
    record = job("job-1", "ada", time.time())
    await jobs.create(record)

    lost = Failure(
        FailureKind.REJECTED, problems=(Problem(ProblemKind.NODE_TYPE_MISSING, value="X"),)
    )
    record = dataclasses.replace(record, state=JobState.FAILED, failure=lost)
    await jobs.update(record)

    stored = await jobs.get("job-1")
    assert stored.failure == lost
    assert stored.params == {"prompt": "a lighthouse", "seed": 7}
    assert stored.output_file_ids == []
    assert stored.progress is None


async def test_listing_pages_through_an_owners_jobs_newest_first(engine):
    await create_tables(engine)
    jobs = SqlJobStore(engine)
    start = time.time()
    adas = [job(f"ada-{n}", "ada", start + n) for n in range(5)]
    bobs = [job(f"bob-{n}", "bob", start + 3 * n + 0.5) for n in range(2)]
    for record in (*adas, *bobs):
        await jobs.create(record)

    def ids(page: list[JobRecord]) -> list[str]:
        return [record.id for record in page]

    pages = [await jobs.list("ada", 2, offset) for offset in (0, 2, 4)]
    assert [(ids(page), total) for page, total in pages] == [
        (["ada-4", "ada-3"], 5),
        (["ada-2", "ada-1"], 5),
        (["ada-0"], 5),
    ]
    assert await jobs.list("bob", 10, 0) == ([bobs[1], bobs[0]], 2)
    assert await jobs.list("nobody-yet", 10, 0) == ([], 0)

    everyones, total = await jobs.list(None, 3, 0)
    assert (ids(everyones), total) == (["ada-4", "bob-1", "ada-3"], 7)


async def test_an_uploaded_workflow_is_saved_replaced_and_deleted(engine):
    await create_tables(engine)
    store = SqlWorkflowStore(engine)
    graph = bundled_workflows()["sd15_txt2img"].graph
    meta = {"title": "My SD 1.5", "defaults": {"steps": 12}, "bounds": {"steps": {"max": 30}}}

    await store.save("my_sd15", graph, meta, "admin-1")
    [stored] = await store.list()
    assert (stored.id, stored.graph, stored.title) == ("my_sd15", graph, "My SD 1.5")
    assert stored.meta.defaults == {"steps": 12}
    assert stored.meta.bounds["steps"].maximum == 30

    await store.save("my_sd15", graph, {**meta, "title": "My SD 1.5, faster"}, "admin-2")
    assert [workflow.title for workflow in await store.list()] == ["My SD 1.5, faster"]

    assert await store.delete("my_sd15") is True
    assert await store.list() == []
    assert await store.delete("my_sd15") is False
