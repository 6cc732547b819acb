"""The contract every error a user may read keeps: its ``str()`` is a sentence.

``UserError`` is the base of the whole package's error family: ComfyUI's
(``comfy.errors.ComfyError``) and the requests the service refuses
(``generation.errors.RequestError``). Backend URLs never reach a user: the
host layer shows ``generation.errors.for_user(error)``.
"""

from __future__ import annotations


class UserError(Exception):
    """``str(error)`` is one or more sentences meant for the user."""


def as_sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop at the end."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
