"""The one rule for a model file's place: a ComfyUI model folder's name, and a file name
inside it (subfolders allowed) that cannot leave it."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

from comfyui_pipe.comfy.problems import MODEL_FILE_SUFFIXES

MAX_NAME = 255
_FOLDER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def folder_problem(folder: str) -> str | None:
    """Why ``folder`` cannot be a model folder's name, or None."""
    if not _FOLDER.fullmatch(folder) or folder.startswith(".."):
        return (
            f"'{_shown(folder)}' is not a model folder's name (letters, digits, '_', '-' "
            "and '.', like checkpoints or loras)."
        )
    return None


def filename_problem(filename: str) -> str | None:
    """Why ``filename`` cannot name a model file inside its folder, or None."""
    if not filename or len(filename) > MAX_NAME:
        return f"A model file name has 1 to {MAX_NAME} characters."
    if any(unicodedata.category(character) in ("Cc", "Cs") for character in filename):
        return "A model file name holds no control characters."
    if filename.startswith("/") or "\\" in filename or re.match(r"^[A-Za-z]:", filename):
        return f"'{_shown(filename)}' is an absolute path; give a name inside the folder."
    parts = filename.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return f"'{_shown(filename)}' leaves its folder; give a plain name (no '..')."
    if PurePosixPath(filename).suffix.lower() not in MODEL_FILE_SUFFIXES:
        return f"A model file name ends in one of {', '.join(MODEL_FILE_SUFFIXES)}."
    return None


def url_problem(url: str) -> str | None:
    """Why a model cannot be downloaded from ``url``, or None (an http(s) address)."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or any(c.isspace() for c in url):
        return "Give a direct download address that starts with http:// or https://."
    return None


def _shown(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "…"
