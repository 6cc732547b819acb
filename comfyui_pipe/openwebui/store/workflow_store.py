"""Workflows uploaded by admins, kept in Open WebUI's database.

One row per workflow in ``comfyui_pipe_workflow``: the API-format graph and the
metadata exactly as uploaded, so a stored workflow loads the same way a bundled
``<id>.json`` + ``<id>.meta.json`` pair does. The table lives on its own
``MetaData``: Open WebUI's migrations never see it, and ``create_workflow_table``
creates it when missing (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON, Column, Float, MetaData, String, Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from comfyui_pipe.workflow import Workflow, parse_workflow

log = logging.getLogger(__name__)

metadata = MetaData()

workflow_table = Table(
    "comfyui_pipe_workflow",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("graph", JSON, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
)


async def create_workflow_table(engine: AsyncEngine) -> None:
    """Create ``comfyui_pipe_workflow`` if it does not exist yet."""
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all, checkfirst=True)


class SqlWorkflowStore:
    """Keeps each workflow parsed, by its version (its upload time): listing reads only
    ids and versions, and parses — and derives the parameters of — a workflow once per
    upload, whatever its size. A row that no longer reads (stored before a rule it breaks,
    such as the size limits) is left out of the listing, with a warning once, until it is
    replaced or deleted."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._parsed: dict[str, tuple[float, Workflow | None]] = {}

    async def list(self) -> list[Workflow]:
        versions = select(workflow_table.c.id, workflow_table.c.created_at)
        async with self._engine.connect() as connection:
            current = dict((await connection.execute(versions)).tuples().all())
            stale = [
                workflow_id
                for workflow_id, version in current.items()
                if self._parsed.get(workflow_id, (None,))[0] != version
            ]
            if stale:
                query = select(
                    workflow_table.c.id,
                    workflow_table.c.created_at,
                    workflow_table.c.graph,
                    workflow_table.c.meta,
                ).where(workflow_table.c.id.in_(stale))
                for row in (await connection.execute(query)).all():
                    self._parsed[row.id] = (row.created_at, _readable(row))
        self._parsed = {key: self._parsed[key] for key in current if key in self._parsed}
        parsed = (self._parsed[key][1] for key in sorted(self._parsed))
        return [workflow for workflow in parsed if workflow is not None]

    async def save(
        self,
        workflow_id: str,
        graph: Mapping[str, Any],
        meta: Mapping[str, Any],
        user_id: str,
    ) -> Workflow:
        """Store (or replace) a workflow; raises ``ValueError`` if it does not parse."""
        workflow = parse_workflow(graph, workflow_id, meta)
        row = {
            "id": workflow_id,
            "graph": dict(graph),
            "meta": dict(meta),
            "created_by": user_id,
            "created_at": time.time(),
        }
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(workflow_table).where(workflow_table.c.id == workflow_id)
            )
            await connection.execute(insert(workflow_table).values(**row))
        return workflow

    async def delete(self, workflow_id: str) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(workflow_table).where(workflow_table.c.id == workflow_id)
            )
        return result.rowcount > 0


def _readable(row: Any) -> Workflow | None:
    try:
        return parse_workflow(row.graph, row.id, row.meta)
    except (ValueError, KeyError, TypeError) as error:
        log.warning(
            "Stored workflow '%s' is left out: %s Delete it or upload it again.", row.id, error
        )
        return None
