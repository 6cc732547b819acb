"""Input images from Open WebUI, for the chat and the API alike: a stored file the
user may read, or a base64 data URL.

A file is readable by its owner, by admins, and by whoever Open WebUI itself
lets read it (a shared chat, a knowledge base, …); to anyone else it does not
exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import mimetypes

from comfyui_pipe.generation.errors import RequestError
from comfyui_pipe.generation.images import check_image_bytes
from comfyui_pipe.generation.limits import Limits
from comfyui_pipe.generation.request import InputImage
from comfyui_pipe.openwebui.host import HostFiles, User

UNKNOWN_TYPE = "application/octet-stream"


class ImageNotReadable(RequestError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"The attached file '{name}' could not be read.")


class FileNotFound(RequestError):
    def __init__(self, file_id: str) -> None:
        self.file_id = file_id
        super().__init__(f"There is no file '{file_id}'.")


def image_from_data_url(url: str, name: str) -> InputImage:
    """``data:<type>;base64,<data>`` as an input image called ``name`` (plus extension)."""
    header, separator, payload = url.partition(",")
    if not (url.startswith("data:") and separator and header.endswith(";base64")):
        raise ImageNotReadable(name)
    content_type = header.removeprefix("data:").removesuffix(";base64") or UNKNOWN_TYPE
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise ImageNotReadable(name) from None
    if not data:
        raise ImageNotReadable(name)
    extension = mimetypes.guess_extension(content_type) or ""
    return InputImage(filename=name + extension, data=data, content_type=content_type)


async def image_from_file(
    files: HostFiles, file_id: str, user: User, limits: Limits | None = None
) -> InputImage:
    """An Open WebUI file ``user`` may read; :class:`FileNotFound` for any other id. With
    ``limits``, a file above their byte limit is refused before it is read."""
    file = await files.get(file_id)
    readable = file is not None and (
        file.user_id == user.id or user.role == "admin" or await files.shared_with(user, file_id)
    )
    if file is None or not readable or not file.path:
        raise FileNotFound(file_id)
    meta = file.meta
    content_type = (
        meta.get("content_type") or mimetypes.guess_type(file.filename)[0] or UNKNOWN_TYPE
    )
    name = meta.get("name") or file.filename
    local_path = await files.local_path(file.path)
    if limits is not None:
        check_image_bytes(name, (await asyncio.to_thread(local_path.stat)).st_size, limits)
    data = await asyncio.to_thread(local_path.read_bytes)
    return InputImage(name, data, content_type)


async def input_image(
    files: HostFiles, reference: str, user: User, limits: Limits, name: str = "upload"
) -> InputImage:
    """A data URL or an Open WebUI file id, as the API's ``images`` list holds them."""
    if reference.startswith("data:"):
        return image_from_data_url(reference, name)
    return await image_from_file(files, reference, user, limits)
