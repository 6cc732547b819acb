"""Generation jobs kept in Open WebUI's database (``comfyui_pipe_job``).

The table lives on its own ``MetaData`` so Open WebUI's migrations never see
it; ``create_job_table`` creates it when missing (and adds the columns a newer
version needs). Only portable SQL and SQLAlchemy's ``JSON`` type: the same code
runs on SQLite and PostgreSQL. Writes are compare-and-set (see ``JobStore``);
the processes' heartbeats (their leases) live in ``comfyui_pipe_worker``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateColumn

from comfyui_pipe.generation.records import JobRecord, JobState, QueuedJob
from comfyui_pipe.openwebui.store.db_writes import Writes

UNFINISHED = (JobState.QUEUED.value, JobState.RUNNING.value)

metadata = MetaData()

job_table = Table(
    "comfyui_pipe_job",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    Column("chat_id", String(255)),
    Column("message_id", String(255)),
    Column("workflow_id", String(128), nullable=False),
    Column("params", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("backend", Text),
    Column("prompt_id", String(64)),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("error", Text),
    Column("output_file_ids", JSON, nullable=False),
    Column("progress", JSON),
    Column("worker_id", String(64)),
    Column("client_id", String(64)),
    Column("prompt", JSON),
    Column("claimed_file_ids", JSON),
    Column("attempt", Integer),
    Column("awaits_delivery", Boolean),
    Index("comfyui_pipe_job_owner_created_idx", "owner_id", "created_at"),
    Index("comfyui_pipe_job_state_idx", "state"),
    Index("comfyui_pipe_job_delivery_idx", "awaits_delivery"),
)

FIXED_AT_CREATION = (
    "id",
    "owner_id",
    "chat_id",
    "message_id",
    "workflow_id",
    "params",
    "prompt",
    "created_at",
)
"""Columns a record's later writes leave alone (the graph and parameters are the biggest)."""
CHANGING = tuple(
    column.name for column in job_table.columns if column.name not in FIXED_AT_CREATION
)

worker_table = Table(
    "comfyui_pipe_worker",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("heartbeat_at", Float, nullable=False),
)

# Built once: a statement built per call costs SQLAlchemy its cache key (about half of
# a write's CPU on SQLite); these take their values as parameters.
_OWNER, _MAX_UNFINISHED, _ID, _WORKER = "_owner", "_max_unfinished", "_id", "_worker"
_UNFINISHED_OF_OWNER = (
    select(func.count())
    .where(job_table.c.owner_id == bindparam(_OWNER), job_table.c.state.in_(UNFINISHED))
    .scalar_subquery()
)
_CREATE_WITHIN_LIMIT = insert(job_table).from_select(
    list(job_table.columns),
    select(*(bindparam(c.name, type_=c.type) for c in job_table.columns)).where(
        _UNFINISHED_OF_OWNER < bindparam(_MAX_UNFINISHED)
    ),
)
_CREATE_WITHIN_LIMIT_RETURNING_ID = _CREATE_WITHIN_LIMIT.returning(job_table.c.id)
"""PostgreSQL's: psycopg counts no rows for INSERT ... SELECT, the id it returns says."""
_LOCK_OWNER = select(func.pg_advisory_xact_lock(func.hashtext(bindparam(_OWNER))))
_UPDATE_OWN_UNFINISHED = (
    update(job_table)
    .where(
        job_table.c.id == bindparam(_ID),
        job_table.c.state.in_(UNFINISHED),
        job_table.c.worker_id.is_not_distinct_from(bindparam(_WORKER)),
    )
    .values({name: bindparam(name, type_=job_table.c[name].type) for name in CHANGING})
)
_QUEUED_COLUMNS = select(
    job_table.c.id,
    job_table.c.owner_id,
    job_table.c.created_at,
    job_table.c.state,
    job_table.c.worker_id,
    job_table.c.backend,
    job_table.c.prompt_id,
    job_table.c.attempt,
).order_by(job_table.c.created_at, job_table.c.id)
_UNFINISHED_JOBS = _QUEUED_COLUMNS.where(job_table.c.state.in_(UNFINISHED))
_UNDELIVERED_JOBS = _QUEUED_COLUMNS.where(job_table.c.awaits_delivery == true())
_ONE_JOB = select(job_table).where(job_table.c.id == bindparam(_ID))


async def create_job_table(engine: AsyncEngine) -> None:
    """Create ``comfyui_pipe_job`` and ``comfyui_pipe_worker`` if they do not exist yet;
    add the columns and indexes an older ``comfyui_pipe_job`` lacks."""
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all, checkfirst=True)
        await connection.run_sync(_add_missing_columns)


def _add_missing_columns(connection: Connection) -> None:
    table = inspect(connection)
    present = {column["name"] for column in table.get_columns(job_table.name)}
    for column in job_table.columns:
        if column.name not in present:
            ddl = CreateColumn(column).compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE {job_table.name} ADD COLUMN {ddl}"))
    indexed = {index["name"] for index in table.get_indexes(job_table.name)}
    for index in job_table.indexes:
        if index.name not in indexed:
            index.create(connection)


class SqlJobStore:
    """The ``JobStore`` of the generation service, on Open WebUI's async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = Writes(engine)

    async def create(self, record: JobRecord, max_unfinished_per_owner: int | None = None) -> bool:
        """One statement inserts the record unless its owner already has enough unfinished
        jobs: atomic on SQLite (a statement holds the write lock); PostgreSQL first takes
        an advisory lock on the owner, whose concurrent inserts would not see each other."""
        row = record.to_row()
        if max_unfinished_per_owner is None:
            return await self._changed(insert(job_table).values(**row))
        params = row | {_OWNER: record.owner_id, _MAX_UNFINISHED: max_unfinished_per_owner}

        async def created(connection: AsyncConnection) -> bool:
            if connection.dialect.name != "postgresql":
                return bool((await connection.execute(_CREATE_WITHIN_LIMIT, params)).rowcount == 1)
            await connection.execute(_LOCK_OWNER, {_OWNER: record.owner_id})
            created = await connection.execute(_CREATE_WITHIN_LIMIT_RETURNING_ID, params)
            return created.first() is not None

        return await self._writes.run(created)

    async def update(self, record: JobRecord) -> bool:
        stored = record.to_row()
        params = {name: stored[name] for name in CHANGING}
        params |= {_ID: record.id, _WORKER: record.worker_id}
        return await self._changed(_UPDATE_OWN_UNFINISHED, params)

    async def end_elsewhere(self, record: JobRecord) -> bool:
        condition = [job_table.c.id == record.id, job_table.c.state.in_(UNFINISHED)]
        if not record.dispatched:
            condition.append(job_table.c.prompt_id.is_(None))
        return await self._changed(
            update(job_table)
            .where(*condition)
            .values(
                state=record.state.value,
                error=record.to_row()["error"],
                finished_at=record.finished_at,
            )
        )

    async def adopt(self, job_id: str, previous_worker: str | None, worker_id: str) -> bool:
        columns = job_table.c
        return await self._changed(
            update(job_table)
            .where(
                columns.id == job_id,
                or_(columns.state.in_(UNFINISHED), columns.awaits_delivery == true()),
                columns.worker_id.is_not_distinct_from(previous_worker),
            )
            .values(worker_id=worker_id)
        )

    async def delivered(self, record: JobRecord) -> bool:
        columns = job_table.c
        return await self._changed(
            update(job_table)
            .where(
                columns.id == record.id,
                columns.awaits_delivery == true(),
                columns.worker_id.is_not_distinct_from(record.worker_id),
            )
            .values(awaits_delivery=False)
        )

    async def unfinished(self) -> list[QueuedJob]:
        return await self._queued(_UNFINISHED_JOBS)

    async def undelivered(self) -> list[QueuedJob]:
        return await self._queued(_UNDELIVERED_JOBS)

    async def _queued(self, query: Any) -> list[QueuedJob]:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            QueuedJob(row[0], row[1], row[2], JobState(row[3]), row[4], row[5], row[6], row[7] or 1)
            for row in rows
        ]

    async def heartbeat(self, worker_id: str, now: float) -> None:
        async def beaten(connection: AsyncConnection) -> None:
            beat = update(worker_table).where(worker_table.c.id == worker_id)
            if (await connection.execute(beat.values(heartbeat_at=now))).rowcount == 0:
                row = {"id": worker_id, "heartbeat_at": now}
                await connection.execute(insert(worker_table).values(**row))

        await self._writes.run(beaten)

    async def live_workers(self, since: float) -> set[str]:
        query = select(worker_table.c.id).where(worker_table.c.heartbeat_at >= since)
        async with self._engine.connect() as connection:
            return set((await connection.execute(query)).scalars())

    async def leave(self, worker_id: str) -> None:
        await self._changed(delete(worker_table).where(worker_table.c.id == worker_id))

    async def _changed(self, statement: Any, params: dict[str, Any] | None = None) -> bool:
        """Run one write; whether it changed exactly one row."""

        async def one_row(connection: AsyncConnection) -> bool:
            return bool((await connection.execute(statement, params)).rowcount == 1)

        return await self._writes.run(one_row)

    async def get(self, job_id: str) -> JobRecord | None:
        async with self._engine.connect() as connection:
            result = await connection.execute(_ONE_JOB, {_ID: job_id})
            row = result.mappings().first()
        return JobRecord.from_row(dict(row)) if row is not None else None

    async def list(
        self, owner_id: str | None, limit: int, offset: int
    ) -> tuple[list[JobRecord], int]:
        """Newest first; ``owner_id=None`` lists everyone's. Returns (page, total)."""
        page = select(job_table).order_by(job_table.c.created_at.desc(), job_table.c.id.desc())
        total = select(func.count()).select_from(job_table)
        if owner_id is not None:
            page = page.where(job_table.c.owner_id == owner_id)
            total = total.where(job_table.c.owner_id == owner_id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(page.limit(limit).offset(offset))).mappings().all()
            count = (await connection.execute(total)).scalar_one()
        return [JobRecord.from_row(dict(row)) for row in rows], count
