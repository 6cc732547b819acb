"""What a generation is asked for: a prompt, options and input images, on a workflow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .options import RequestOptions


@dataclass(frozen=True)
class InputImage:
    filename: str
    data: bytes = field(repr=False)
    content_type: str = ""


@dataclass(frozen=True)
class GenerationRequest:
    """``options`` come from the message, ``defaults`` from the user's settings."""

    owner_id: str
    workflow_id: str
    prompt: str
    options: RequestOptions = field(default_factory=RequestOptions)
    images: Sequence[InputImage] = ()
    chat_id: str | None = None
    message_id: str | None = None
    defaults: RequestOptions = field(default_factory=RequestOptions)
