"""Reads of the job table for the console's queue: every unfinished job, oldest first,
with its parameters and saved progress but without its graph (the largest column)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from comfyui_pipe.generation.records import JobRecord
from comfyui_pipe.openwebui.store.jobs_table import UNFINISHED, job_table

_WITHOUT_GRAPH = [column for column in job_table.columns if column.name != "prompt"]


async def unfinished_records(engine: AsyncEngine, owner_id: str | None = None) -> list[JobRecord]:
    """The jobs that have not ended (``owner_id``'s only, when given), oldest first."""
    columns = job_table.c
    query = (
        select(*_WITHOUT_GRAPH)
        .where(columns.state.in_(UNFINISHED))
        .order_by(columns.created_at, columns.id)
    )
    if owner_id is not None:
        query = query.where(columns.owner_id == owner_id)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [JobRecord.from_row(dict(row)) for row in rows]
