"""The rule every text a user sends obeys, in the chat and the API alike."""

from __future__ import annotations

from .errors import RequestError


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds half of a UTF-16 surrogate pair on its own (JSON can carry one
    as ``"\\ud800"``): such text cannot be stored, encoded or shown."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_text(label: str, text: str, max_length: int | None = None) -> None:
    """Raise :class:`RequestError` for text that is not valid Unicode or is too long."""
    if has_lone_surrogate(text):
        raise RequestError(
            f"The {label} contains a character that is not valid Unicode "
            "(a lone UTF-16 surrogate); remove it and send it again."
        )
    if max_length is not None and len(text) > max_length:
        raise RequestError(
            f"The {label} is {len(text):,} characters long; the limit here is {max_length:,}."
        )
