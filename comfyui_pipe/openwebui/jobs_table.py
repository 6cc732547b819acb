"""Generation jobs kept in Open WebUI's database (``comfyui_pipe_job``).

The table lives on its own ``MetaData`` so Open WebUI's migrations never see
it; ``create_job_table`` creates it when missing. Only portable SQL and
SQLAlchemy's ``JSON`` type: the same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from comfyui_pipe.generation.records import JobRecord

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
    Index("comfyui_pipe_job_owner_created_idx", "owner_id", "created_at"),
)


async def create_job_table(engine: AsyncEngine) -> None:
    """Create ``comfyui_pipe_job`` if it does not exist yet."""
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all, checkfirst=True)


class SqlJobStore:
    """The ``JobStore`` of the generation service, on Open WebUI's async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, record: JobRecord) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(insert(job_table).values(**record.to_dict()))

    async def update(self, record: JobRecord) -> None:
        row = record.to_dict()
        del row["id"]
        async with self._engine.begin() as connection:
            await connection.execute(
                update(job_table).where(job_table.c.id == record.id).values(**row)
            )

    async def get(self, job_id: str) -> JobRecord | None:
        async with self._engine.connect() as connection:
            result = await connection.execute(select(job_table).where(job_table.c.id == job_id))
            row = result.mappings().first()
        return JobRecord.from_dict(dict(row)) if row is not None else None

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
        return [JobRecord.from_dict(dict(row)) for row in rows], count
