"""An ``/images/edits`` form: its fields (as ``ImageAsk`` reads them), the image or images
to edit (``image``, or ``image[]`` for several) and an optional ``mask``.

OpenAI's mask is a PNG whose fully transparent pixels mark what to repaint; our inpaint
workflows take the mask as a second image, white where they repaint. The mask is
turned into that, and the job goes to an inpaint workflow."""

from __future__ import annotations

import io
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from PIL import Image
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from comfyui_pipe.generation.images import check_image, check_image_bytes
from comfyui_pipe.generation.limits import MAX_INPUT_IMAGES, Limits
from comfyui_pipe.generation.request import InputImage

from .asks import ImageAsk

IMAGE_FIELDS = ("image", "image[]")
MASK_FIELD = "mask"
MAX_FORM_FIELDS = 64
TRANSPARENT = 0


async def read_edit_form(
    request: Request, limits: Limits
) -> tuple[ImageAsk, list[InputImage], InputImage | None]:
    """The ask, the images and the mask (None when none is sent), each image within the
    admin's limits before it is read."""
    form = await request.form(max_files=MAX_INPUT_IMAGES + 1, max_fields=MAX_FORM_FIELDS)
    fields: dict[str, Any] = {}
    uploads: list[UploadFile] = []
    mask: UploadFile | None = None
    for name, value in form.multi_items():
        if name in IMAGE_FIELDS and isinstance(value, UploadFile):
            uploads.append(value)
        elif name == MASK_FIELD and isinstance(value, UploadFile):
            mask = value
        else:
            fields[name] = value
    try:
        ask = ImageAsk.model_validate(fields)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    images = [await _read(upload, limits, f"image-{n}") for n, upload in enumerate(uploads, 1)]
    return ask, images, None if mask is None else await _read(mask, limits, "mask")


async def _read(upload: UploadFile, limits: Limits, fallback_name: str) -> InputImage:
    name = upload.filename or fallback_name
    check_image_bytes(name, upload.size or 0, limits)
    data = await upload.read()
    return InputImage(filename=name, data=data, content_type=upload.content_type or "")


def inpaint_mask(mask: InputImage, limits: Limits) -> InputImage:
    """OpenAI's mask (transparent: repaint) as our inpaint workflows' second image
    (white: repaint). Raises ``NotAnImage`` / ``ImageTooLarge`` as for any image."""
    check_image(mask, limits)
    with Image.open(io.BytesIO(mask.data)) as opened:
        alpha = opened.convert("RGBA").getchannel("A")
    white_where_transparent = alpha.point(lambda value: 255 if value == TRANSPARENT else 0)
    encoded = io.BytesIO()
    white_where_transparent.save(encoded, format="PNG")
    return InputImage(filename="mask.png", data=encoded.getvalue(), content_type="image/png")
