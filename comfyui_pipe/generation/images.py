"""Input images: within the admin's size limits and readable, checked before anything
is stored, uploaded or queued."""

from __future__ import annotations

import io
import warnings

from PIL import Image

from .errors import ImageTooLarge, NotAnImage
from .limits import Limits
from .request import InputImage


def check_image_bytes(filename: str, size: int, limits: Limits) -> None:
    """Raise :class:`ImageTooLarge` for a file above the admin's byte limit."""
    if size > limits.max_image_bytes:
        raise ImageTooLarge(
            filename,
            f"{_amount(size)}; at most {_amount(limits.max_image_bytes)} are allowed here",
        )


def check_image(image: InputImage, limits: Limits) -> None:
    """Raise :class:`ImageTooLarge` or :class:`NotAnImage` unless ``image`` is a readable
    image within the limits. Its pixels are counted from its header, before decoding."""
    check_image_bytes(image.filename, len(image.data), limits)
    megapixels = f"{limits.max_image_pixels / 1e6:.1f} megapixels"
    try:
        with warnings.catch_warnings():
            # Pillow warns of (and past twice its own limit refuses) a decompression
            # bomb; the admin's pixel limit below is the rule here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image.data)) as opened:
                width, height = opened.size
                if width * height > limits.max_image_pixels:
                    raise ImageTooLarge(
                        image.filename,
                        f"{width}×{height} pixels; at most {megapixels} are allowed here",
                    )
                opened.verify()
    except Image.DecompressionBombError:
        raise ImageTooLarge(
            image.filename, f"far more pixels than the {megapixels} allowed here"
        ) from None
    except ImageTooLarge:
        raise
    except Exception:  # Pillow raises many kinds for bytes that are not an image
        raise NotAnImage(image.filename) from None


def _amount(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size:,} bytes"
