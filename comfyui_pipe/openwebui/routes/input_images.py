"""The input images of ``POST /generate``: Open WebUI file ids or base64 data URLs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re

from fastapi import HTTPException, status
from open_webui.models.files import Files
from open_webui.models.users import UserModel
from open_webui.storage.provider import Storage
from open_webui.utils.access_control.files import has_access_to_file

from comfyui_pipe.generation.request import InputImage

_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[^,]*)?;base64,(?P<data>.*)$", re.S)


async def input_image(reference: str, user: UserModel) -> InputImage:
    """An Open WebUI file id the user may read, or a base64 data URL."""
    if reference.startswith("data:"):
        match = _DATA_URL.match(reference)
        try:
            data = base64.b64decode(match["data"], validate=True) if match else b""
        except binascii.Error:
            data = b""
        if not data:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "An image is not a base64 data URL.")
        content_type = match["type"] or "application/octet-stream"
        extension = content_type.rsplit("/", 1)[-1]
        return InputImage(f"upload.{extension}", data, content_type)
    file = await Files.get_file_by_id(reference)
    readable = file is not None and (
        file.user_id == user.id
        or user.role == "admin"
        or await has_access_to_file(reference, "read", user)
    )
    if not readable or not file.path:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"There is no file '{reference}'.")
    path = await asyncio.to_thread(Storage.get_file, file.path)
    data = await asyncio.to_thread(_read_bytes, path)
    meta = file.meta or {}
    return InputImage(
        meta.get("name", file.filename),
        data,
        meta.get("content_type") or "application/octet-stream",
    )


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as source:
        return source.read()
