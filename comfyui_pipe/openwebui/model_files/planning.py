"""Whether a model download can start, decided before anything is written: the server's
models folder is writable here, ComfyUI has the folder, the file is not there yet nor
being downloaded, the address answers, and the disk has room for what is still to come
(the expected size, less what an interrupted download left)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from comfyui_pipe.workflow.model import ModelFile

from .downloads import DownloadPlan
from .folders import ModelsFolder, OutsideFolder

HEAD_TIMEOUT = httpx.Timeout(10.0)


class DownloadRefused(Exception):
    """Why a download cannot start: an HTTP status and a sentence."""

    def __init__(self, status: int, sentence: str) -> None:
        self.status = status
        super().__init__(sentence)


@dataclass(frozen=True)
class Target:
    server: str
    server_name: str
    root: str | None
    comfy_folders: Collection[str]
    """The model folders the server's ComfyUI has."""
    running: bool
    """The same file is being downloaded for that server now."""


async def plan_download(target: Target, model: ModelFile) -> DownloadPlan:
    where = f"{model.folder}/{model.filename}"
    if target.root is None:
        raise DownloadRefused(
            409,
            f"This Open WebUI cannot write the models of {target.server_name} (the "
            f"model_folders setting names no folder for it): put {model.filename} into its "
            f"{model.folder} folder yourself.",
        )
    folder = ModelsFolder(Path(target.root))
    if not await asyncio.to_thread(folder.writable):
        raise DownloadRefused(
            409, f"The models folder of {target.server_name} ({target.root}) is not writable here."
        )
    if model.folder not in target.comfy_folders:
        known = ", ".join(sorted(target.comfy_folders)) or "none"
        raise DownloadRefused(
            422,
            f"ComfyUI on {target.server_name} has no model folder '{model.folder}'; "
            f"its folders are: {known}.",
        )
    try:
        exists = (await asyncio.to_thread(folder.place, model.folder, model.filename)).exists()
        partial = await asyncio.to_thread(folder.partial_size, model.folder, model.filename)
    except OutsideFolder as error:
        raise DownloadRefused(400, str(error)) from None
    if exists:
        raise DownloadRefused(409, f"{where} is there already on {target.server_name}.")
    if target.running:
        raise DownloadRefused(409, f"{where} is being downloaded already.")
    size = model.size_bytes or await _announced_size(model.url)
    await _check_room(folder, size, partial, where)
    return DownloadPlan(target.server, folder, model, size)


async def _check_room(folder: ModelsFolder, size: int | None, partial: int, where: str) -> None:
    if size is None:
        return
    free = await asyncio.to_thread(folder.free_bytes)
    needed = max(size - partial, 0)
    if needed > free:
        raise DownloadRefused(
            507,
            f"{where} needs {_size(needed)} more, but its disk has {_size(free)} free; "
            "make room first.",
        )


async def _announced_size(url: str) -> int | None:
    """What the address says the file's size is (None when it does not say); refused when
    it cannot be reached or answers with an error."""
    host = urlsplit(url).hostname or url
    try:
        async with httpx.AsyncClient(timeout=HEAD_TIMEOUT, follow_redirects=True) as client:
            response = await client.head(url)
    except httpx.HTTPError as error:
        raise DownloadRefused(
            422, f"{host} cannot be reached ({type(error).__name__}); check the address."
        ) from None
    if response.status_code in (405, 501):
        return None  # no HEAD there: the size is learnt when the download starts
    if response.status_code >= 400:
        raise DownloadRefused(
            422, f"{host} answered HTTP {response.status_code} for that address; check it."
        )
    length = response.headers.get("content-length", "")
    return int(length) if length.isdigit() and int(length) > 0 else None


def _size(size: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
