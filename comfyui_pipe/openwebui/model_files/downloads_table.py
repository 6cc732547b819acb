"""Model downloads kept in Open WebUI's database (``comfyui_pipe_download``), so that every
process shows the same downloads and their progress, and a download whose process died
is seen as interrupted (its worker's heartbeat stopped) and can be started again, resuming
from the bytes it left on disk."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from comfyui_pipe.openwebui.store.db_writes import Writes

metadata = MetaData()

download_table = Table(
    "comfyui_pipe_download",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("server", Text, nullable=False),
    Column("folder", String(64), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("url", Text, nullable=False),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("received", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("error", Text),
    Column("created_by", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("worker_id", String(64), nullable=False),
    Index("comfyui_pipe_download_created_idx", "created_at"),
)


class DownloadState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Download:
    id: str
    server: str
    folder: str
    filename: str
    url: str
    sha256: str | None
    size: int | None
    received: int
    state: DownloadState
    error: str | None
    created_by: str
    created_at: float
    finished_at: float | None
    worker_id: str


async def create_download_table(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all, checkfirst=True)


class SqlDownloads:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = Writes(engine)

    async def add(self, download: Download) -> None:
        row = {**asdict(download), "state": download.state.value}

        async def added(connection: AsyncConnection) -> None:
            await connection.execute(insert(download_table).values(**row))

        await self._writes.run(added)

    async def progress(self, download_id: str, received: int, size: int | None) -> bool:
        """Record the bytes so far; False when the download is no longer running (an admin
        cancelled it, from any process)."""
        return await self._change(download_id, None, received=received, size=size)

    async def end(
        self,
        download_id: str,
        state: DownloadState,
        at: float,
        error: str | None = None,
        *,
        late: bool = False,
    ) -> bool:
        """End a running download; ``late``: one cancelled meanwhile too."""
        ended = (DownloadState.RUNNING, DownloadState.CANCELLED) if late else None
        return await self._change(
            download_id, ended, state=state.value, error=error, finished_at=at
        )

    async def running(self, server: str, folder: str, filename: str) -> list[Download]:
        columns = download_table.c
        query = select(download_table).where(
            columns.state == DownloadState.RUNNING.value,
            columns.server == server,
            columns.folder == folder,
            columns.filename == filename,
        )
        return await self._read(query)

    async def get(self, download_id: str) -> Download | None:
        found = await self._read(select(download_table).where(download_table.c.id == download_id))
        return found[0] if found else None

    async def recent(self, limit: int) -> list[Download]:
        columns = download_table.c
        query = select(download_table).order_by(columns.created_at.desc(), columns.id).limit(limit)
        return await self._read(query)

    async def _change(
        self, download_id: str, states: tuple[DownloadState, ...] | None, **values: Any
    ) -> bool:
        """Change a download that is in one of ``states`` (running, by default)."""
        columns = download_table.c
        allowed = [state.value for state in states or (DownloadState.RUNNING,)]
        statement = (
            update(download_table)
            .where(columns.id == download_id, columns.state.in_(allowed))
            .values(**values)
        )

        async def changed(connection: AsyncConnection) -> bool:
            return bool((await connection.execute(statement)).rowcount == 1)

        return await self._writes.run(changed)

    async def _read(self, query: Any) -> list[Download]:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [Download(**{**row, "state": DownloadState(row["state"])}) for row in rows]
