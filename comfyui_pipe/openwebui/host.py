"""Open WebUI as the plugin uses it: the one module of ``openwebui/`` that imports Open
WebUI's internals (an import contract says so).

``OpenWebUIHost`` gathers them by concern — ``users``, ``chats``, ``files``, ``models``
(the chat models' rows and who may use them), ``plugins`` (our functions, tool and
settings rows) and ``events`` — and answers with plain values or the protocols below,
never with Open WebUI's table classes. The runtime holds one and hands it to whoever
needs it. Two things are needed before any runtime exists and are plain functions:
``verified_user`` (the routes' sign-in dependency) and ``open_webui_app``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from open_webui.config import BYPASS_ADMIN_ACCESS_CONTROL
from open_webui.env import BYPASS_MODEL_ACCESS_CONTROL
from open_webui.internal.db import async_engine
from open_webui.models.chats import Chats
from open_webui.models.files import FileForm, Files
from open_webui.models.functions import Function, FunctionForm, FunctionMeta, Functions
from open_webui.models.groups import Groups
from open_webui.models.models import Model, ModelForm, ModelMeta, ModelParams, Models
from open_webui.models.tools import ToolForm, ToolMeta, Tools
from open_webui.models.users import Users
from open_webui.socket.main import get_event_emitter
from open_webui.storage.provider import Storage
from open_webui.utils.access_control.files import has_access_to_file
from open_webui.utils.auth import get_verified_user
from open_webui.utils.models import check_model_access
from open_webui.utils.plugin import extract_frontmatter
from open_webui.utils.tools import get_tool_specs
from open_webui.utils.valves import decrypt_valves
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

Emitter = Callable[[dict[str, Any]], Awaitable[Any]]
"""Open WebUI's event emitter (and event caller) of a chat message."""

verified_user = get_verified_user
"""The routes' dependency: the signed-in user (401 without a valid token)."""


def open_webui_app() -> Any:
    """Open WebUI's app. Imported when first asked for: importing it builds the whole app."""
    from open_webui.main import app

    return app


class User(Protocol):
    """A signed-in Open WebUI user, as Open WebUI hands it back to its own checks."""

    @property
    def id(self) -> str: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class HostFile:
    """A row of Open WebUI's files table."""

    id: str
    user_id: str
    filename: str
    path: str | None
    meta: Mapping[str, Any]


@dataclass(frozen=True)
class ModelRow:
    """A chat model's row (its admin settings) in Open WebUI."""

    id: str
    name: str
    description: str | None
    is_active: bool


@dataclass(frozen=True)
class PluginRow:
    """A stored function or tool: its source, and for a tool its specs."""

    content: str
    is_active: bool = True
    specs: Any = None


@dataclass(frozen=True)
class StoredValves:
    """A function's valves as saved, and when its row last changed (whole seconds)."""

    values: dict[str, Any]
    changed_at: int | None


async def _inserted(insert: Awaitable[object]) -> bool:
    """Whether the row was inserted: False when another process inserted it first."""
    try:
        await insert
    except IntegrityError:
        return False
    return True


def _file(row: Any) -> HostFile:
    return HostFile(row.id, row.user_id, row.filename, row.path, row.meta or {})


class HostUsers:
    async def get(self, user_id: str) -> User | None:
        user: User | None = await Users.get_user_by_id(user_id)
        return user

    async def first_admin(self) -> User | None:
        admin: User | None = await Users.get_super_admin_user()
        return admin

    async def group_names(self, user_ids: Sequence[str]) -> dict[str, set[str]]:
        """Each user's groups, those they belong to through a child group included."""
        groups = await Groups.get_groups_by_member_ids(list(user_ids), include_inherited=True)
        return {user: {group.name for group in groups.get(user, ())} for user in user_ids}


class HostChats:
    async def messages(self, chat_id: str, user_id: str) -> dict[str, dict[str, Any]] | None:
        """The messages of ``user_id``'s own chat ``chat_id`` by id; None for any other."""
        chat = await Chats.get_chat_by_id_and_user_id(chat_id, user_id)
        if chat is None:
            return None
        messages: dict[str, dict[str, Any]] = (chat.chat.get("history") or {}).get("messages") or {}
        return messages

    async def message(self, chat_id: str, message_id: str) -> dict[str, Any] | None:
        message: dict[str, Any] | None = await Chats.get_message_by_id_and_message_id(
            chat_id, message_id
        )
        return message

    async def link_files(
        self, chat_id: str, message_id: str, file_ids: Sequence[str], user_id: str
    ) -> None:
        await Chats.insert_chat_files(chat_id, message_id, list(file_ids), user_id)

    async def linked_file_ids(self, chat_id: str, message_id: str) -> list[str]:
        """The files linked to a message, in the order they were linked."""
        links = await Chats.get_chat_files_by_chat_id_and_message_id(chat_id, message_id)
        return [link.file_id for link in links or ()]

    async def mark_done(self, chat_id: str, message_id: str) -> None:
        await Chats.upsert_message_to_chat_by_id_and_message_id(chat_id, message_id, {"done": True})


class HostFiles:
    """Open WebUI's files table and its storage (local disk, S3, GCS or Azure)."""

    async def get(self, file_id: str) -> HostFile | None:
        row = await Files.get_file_by_id(file_id)
        return None if row is None else _file(row)

    async def many(self, file_ids: Sequence[str]) -> list[HostFile]:
        return [_file(row) for row in await Files.get_files_by_ids(list(file_ids))]

    async def shared_with(self, user: User, file_id: str) -> bool:
        """Whether Open WebUI's own sharing (a shared chat, a knowledge base…) lets
        ``user`` read the file."""
        shared: bool = await has_access_to_file(file_id, "read", user)
        return shared

    async def local_path(self, storage_path: str) -> Path:
        """A local copy of a stored file (the file itself on local disk)."""
        return Path(await asyncio.to_thread(Storage.get_file, storage_path))

    async def upload(self, data: IO[bytes], name: str, tags: dict[str, str]) -> str:
        """Store ``data`` (read to its end, in a thread); its storage path."""
        _, path = await asyncio.to_thread(Storage.upload_file, data, name, tags)
        return str(path)

    async def insert(
        self, owner_id: str, file_id: str, filename: str, path: str, meta: dict[str, Any]
    ) -> bool:
        """Add the row; False when the id is taken."""
        form = FileForm(id=file_id, filename=filename, path=path, data={}, meta=meta)
        return await Files.insert_new_file(owner_id, form) is not None

    async def delete(self, file: HostFile) -> None:
        if file.path:
            await asyncio.to_thread(Storage.delete_file, file.path)
        await Files.delete_file_by_id(file.id)


class HostModels:
    """The chat models' rows, and Open WebUI's rule for who may use a model."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def offered(self, function_id: str, model_id: str) -> bool:
        """Whether the chat lists the model: its function is on and its row, if it has one,
        is active (one statement: asked on every request)."""
        query = select(
            select(Function.is_active).filter_by(id=function_id).scalar_subquery(),
            select(Model.is_active).filter_by(id=model_id).scalar_subquery(),
        )
        async with self._engine.connect() as connection:
            function_on, model_on = (await connection.execute(query)).one()
        return bool(function_on) and model_on is not False

    async def get(self, model_id: str) -> ModelRow | None:
        row = await Models.get_model_by_id(model_id)
        if row is None:
            return None
        return ModelRow(row.id, row.name, row.meta.description, row.is_active)

    async def create(
        self,
        row: ModelRow,
        owner_id: str,
        meta: Mapping[str, Any],
        grants: Sequence[Mapping[str, str]],
    ) -> bool:
        """A new row; False when another process created it first."""
        form = ModelForm(
            id=row.id,
            base_model_id=None,
            name=row.name,
            meta=ModelMeta(description=row.description, **meta),
            params=ModelParams(),
            access_grants=[dict(grant) for grant in grants],
        )
        return await _inserted(Models.insert_new_model(form, owner_id))

    async def retitle(self, model_id: str, name: str, description: str | None) -> None:
        """A row's name and description changed, the rest as the admin left it."""
        row = await Models.get_model_by_id(model_id)
        if row is None:
            return
        meta = {**row.meta.model_dump(), "description": description}
        form = ModelForm(
            id=row.id,
            base_model_id=row.base_model_id,
            name=name,
            meta=ModelMeta(**meta),
            params=row.params,
        )
        await Models.update_model_by_id(row.id, form)

    async def may_use(self, user: User, model_id: str) -> bool:
        """What the chat decides for the model (``open_webui.main.chat_completion``)."""
        if BYPASS_MODEL_ACCESS_CONTROL or (user.role == "admin" and BYPASS_ADMIN_ACCESS_CONTROL):
            return True
        try:
            await check_model_access(user, {"id": model_id})
        except Exception:  # Open WebUI raises a bare Exception("Model not found")
            return False
        return True


class HostPlugins:
    """Our functions and tool as Open WebUI stores them, and their valves."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def function(self, function_id: str) -> PluginRow | None:
        row = await Functions.get_function_by_id(function_id)
        return None if row is None else PluginRow(row.content, row.is_active)

    async def create_function(
        self, function_id: str, name: str, kind: str, content: str, description: str
    ) -> bool:
        """A new function, without owner; False when another process created it first."""
        meta = _meta(content, description)
        form = FunctionForm(id=function_id, name=name, content=content, meta=meta)
        return await _inserted(Functions.insert_new_function(None, kind, form))

    async def set_function_flags(self, function_id: str, *, active: bool, is_global: bool) -> None:
        await Functions.update_function_by_id(
            function_id, {"is_active": active, "is_global": is_global}
        )

    async def replace_function_source(
        self, function_id: str, content: str, description: str
    ) -> None:
        meta = _meta(content, description).model_dump(exclude_none=True)
        await Functions.update_function_by_id(
            function_id, {"content": content, "meta": meta}, merge_meta=True
        )

    async def tool(self, tool_id: str) -> PluginRow | None:
        row = await Tools.get_tool_by_id(tool_id)
        return None if row is None else PluginRow(row.content, specs=row.specs)

    def tool_specs(self, tools: object) -> list[dict[str, Any]]:
        """The functions Open WebUI offers a model for the methods of ``tools``."""
        specs: list[dict[str, Any]] = get_tool_specs(tools)
        return specs

    async def create_tool(
        self, tool_id: str, name: str, content: str, description: str, specs: Any
    ) -> bool:
        meta = ToolMeta(description=description, manifest=extract_frontmatter(content))
        form = ToolForm(id=tool_id, name=name, content=content, meta=meta)
        return await _inserted(Tools.insert_new_tool(None, form, specs))

    async def replace_tool_source(
        self, tool_id: str, content: str, description: str, specs: Any
    ) -> None:
        meta = ToolMeta(description=description, manifest=extract_frontmatter(content))
        await Tools.update_tool_by_id(
            tool_id, {"content": content, "specs": specs, "meta": meta.model_dump()}
        )

    async def valves(self, function_id: str) -> StoredValves:
        query = select(Function.valves, Function.updated_at).filter_by(id=function_id)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return StoredValves({}, None)
        return StoredValves(decrypt_valves(row.valves), row.updated_at)

    async def changed_at(self, function_id: str) -> int | None:
        """When the function's row last changed (a save of its valves included)."""
        query = select(Function.updated_at).filter_by(id=function_id)
        async with self._engine.connect() as connection:
            changed: int | None = (await connection.execute(query)).scalar_one_or_none()
            return changed

    async def save_valves(self, function_id: str, values: dict[str, Any]) -> bool:
        """False when the function is not installed."""
        return await Functions.update_function_valves_by_id(function_id, values) is not None

    async def user_valves(self, function_id: str, user_id: str) -> dict[str, Any]:
        """What ``user_id`` saved in the function's user valves (the chat controls)."""
        saved: dict[str, Any] | None = await Functions.get_user_valves_by_id_and_user_id(
            function_id, user_id
        )
        return saved or {}


def _meta(content: str, description: str | None = None) -> Any:
    return FunctionMeta(description=description, manifest=extract_frontmatter(content))


class HostEvents:
    async def emitter(self, metadata: Mapping[str, Any], *, persisted: bool) -> Emitter:
        """The event emitter of a chat message (``user_id``, ``chat_id``, ``message_id``,
        ``session_id``) or, without a chat, the user's room; ``persisted``: its status and
        files events are also saved into the chat."""
        emitter: Emitter = await get_event_emitter(dict(metadata), update_db=persisted)
        return emitter


class OpenWebUIHost:
    """Open WebUI's users, chats, files, chat models, our plugins' rows and events, and
    its database engine (``engine``), for the rest of ``openwebui/``."""

    def __init__(self, engine: AsyncEngine | None = None) -> None:
        self.engine: AsyncEngine = async_engine if engine is None else engine
        self.users = HostUsers()
        self.chats = HostChats()
        self.files = HostFiles()
        self.models = HostModels(self.engine)
        self.plugins = HostPlugins(self.engine)
        self.events = HostEvents()
