"""The outputs users made, one row each (``comfyui_pipe_output``), and their thumbnails
(``comfyui_pipe_thumbnail``, apart, so that reading a page of the grid reads no image).

A page is read by keyset — after the (time, id) of the last row shown, on the index of
the owner's rows by time — so the thousandth page costs what the first does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from comfyui_pipe.openwebui.store.db_writes import Writes

metadata = MetaData()

output_table = Table(
    "comfyui_pipe_output",
    metadata,
    Column("file_id", String(64), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    Column("job_id", String(64), nullable=False),
    Column("workflow_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("prompt", Text),
    Column("created_at", Float, nullable=False),
    Column("chat_id", String(255)),
    Column("message_id", String(255)),
    Column("width", Integer),
    Column("height", Integer),
    Column("excerpt", Text),
    Column("has_thumbnail", Integer, nullable=False),
    Index("comfyui_pipe_output_owner_created_idx", "owner_id", "created_at", "file_id"),
)

thumbnail_table = Table(
    "comfyui_pipe_thumbnail",
    metadata,
    Column("file_id", String(64), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# Built once: a statement built per call costs SQLAlchemy its cache key each time.
_FILE_ID = "_file_id"
_BY_ID = select(output_table).where(output_table.c.file_id == bindparam(_FILE_ID))
_ADD_OUTPUT = insert(output_table)
_ADD_THUMBNAIL = insert(thumbnail_table)

KINDS = {"image": ("image",), "animated": ("animated", "gif"), "video": ("video",)}
"""A kind asked for -> the output kinds it shows (an animated image may be a GIF)."""


@dataclass(frozen=True)
class Output:
    file_id: str
    owner_id: str
    job_id: str
    workflow_id: str
    kind: str
    content_type: str
    name: str
    size: int
    prompt: str | None
    created_at: float
    chat_id: str | None
    message_id: str | None
    width: int | None
    height: int | None
    excerpt: str | None
    has_thumbnail: bool

    @property
    def cursor(self) -> str:
        """Where the page after this output starts."""
        return f"{self.created_at!r}~{self.file_id}"


@dataclass(frozen=True)
class Filters:
    workflow: str | None = None
    kind: str | None = None
    text: str | None = None
    """Part of the prompt, any case."""


async def create_gallery_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all, checkfirst=True)


class SqlGallery:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = Writes(engine)

    async def add(self, output: Output, thumbnail: bytes | None) -> None:
        """Keep ``output`` (once: another owner of its job may have added it already)."""

        async def added(connection: AsyncConnection) -> None:
            if (await connection.execute(_BY_ID, {_FILE_ID: output.file_id})).first() is not None:
                return
            await connection.execute(_ADD_OUTPUT, asdict(output))
            if thumbnail is not None:
                row = {"file_id": output.file_id, "data": thumbnail}
                await connection.execute(_ADD_THUMBNAIL, row)

        try:
            await self._writes.run(added)
        except IntegrityError:
            return  # added by another process meanwhile

    async def page(
        self, owner_id: str, limit: int, after: str | None = None, filters: Filters = Filters()
    ) -> list[Output]:
        """The owner's outputs newest first, from just after the cursor ``after``."""
        columns = output_table.c
        query = select(output_table).where(columns.owner_id == owner_id)
        if after is not None:
            created_at, file_id = _read_cursor(after)
            query = query.where(
                or_(
                    columns.created_at < created_at,
                    and_(columns.created_at == created_at, columns.file_id < file_id),
                )
            )
        if filters.workflow:
            query = query.where(columns.workflow_id == filters.workflow)
        if filters.kind:
            query = query.where(columns.kind.in_(KINDS.get(filters.kind, (filters.kind,))))
        if filters.text:
            query = query.where(columns.prompt.icontains(filters.text, autoescape=True))
        query = query.order_by(columns.created_at.desc(), columns.file_id.desc()).limit(limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_output(row) for row in rows]

    async def get(self, file_id: str) -> Output | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(_BY_ID, {_FILE_ID: file_id})).mappings().first()
        return None if row is None else _output(row)

    async def thumbnail(self, file_id: str) -> bytes | None:
        query = select(thumbnail_table.c.data).where(thumbnail_table.c.file_id == file_id)
        async with self._engine.connect() as connection:
            data: bytes | None = (await connection.execute(query)).scalar_one_or_none()
        return data

    async def remove(self, file_ids: list[str]) -> None:
        async def removed(connection: AsyncConnection) -> None:
            for table in (thumbnail_table, output_table):
                await connection.execute(delete(table).where(table.c.file_id.in_(file_ids)))

        if file_ids:
            await self._writes.run(removed)


class BadCursor(ValueError):
    """A cursor this listing did not give."""


def _read_cursor(cursor: str) -> tuple[float, str]:
    created_at, sep, file_id = cursor.partition("~")
    try:
        moment = float(created_at)
    except ValueError:
        moment = math.nan
    if not sep or not file_id or not math.isfinite(moment):
        raise BadCursor("That page cursor was not given by this listing.")
    return moment, file_id


def _output(row: RowMapping) -> Output:
    values = dict(row)
    values["has_thumbnail"] = bool(values["has_thumbnail"])
    return Output(**values)
