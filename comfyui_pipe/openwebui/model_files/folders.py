"""A ComfyUI server's models folder as this process reaches it (the ``model_folders``
setting): what each folder holds and how large it is, the free disk, and the one place
a model file may be written or removed. Plain file system calls: run them in a thread."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

PART_SUFFIX = ".part"
"""A download in progress (or interrupted, to resume): see ``fetch_models.download``."""


class OutsideFolder(ValueError):
    """A place that is not a file inside one of the models folders."""


@dataclass(frozen=True)
class StoredModel:
    name: str
    """Relative to its folder, with '/' between subfolders."""
    size: int
    partial: bool = False


@dataclass(frozen=True)
class FolderContents:
    name: str
    files: tuple[StoredModel, ...]

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)


@dataclass(frozen=True)
class ModelsFolder:
    root: Path

    def writable(self) -> bool:
        return self.root.is_dir() and os.access(self.root, os.W_OK | os.X_OK)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def place(self, folder: str, filename: str) -> Path:
        """Where ``folder/filename`` is; :class:`OutsideFolder` unless it is inside the
        folder (names are checked before, by ``names``: this holds even for a link)."""
        root = self.root.resolve()
        base = (root / folder).resolve()
        target = (base / filename).resolve()
        if base.parent != root or not target.is_relative_to(base) or target == base:
            raise OutsideFolder(f"{folder}/{filename} is not inside the models folder.")
        return target

    def contents(self) -> list[FolderContents]:
        """Each folder with its files (downloads in progress marked), by name."""
        if not self.root.is_dir():
            return []
        return [
            FolderContents(folder.name, tuple(_files(folder)))
            for folder in sorted(self.root.iterdir(), key=lambda path: path.name)
            if folder.is_dir() and not folder.name.startswith(".")
        ]

    def partial_size(self, folder: str, filename: str) -> int:
        """The bytes an earlier, interrupted download of it left (0 when none)."""
        part = self.place(folder, filename + PART_SUFFIX)
        return part.stat().st_size if part.is_file() else 0

    def remove(self, folder: str, filename: str) -> bool:
        """Delete the file (or what a download of it left); False when neither is there."""
        removed = False
        for name in (filename, filename + PART_SUFFIX):
            path = self.place(folder, name)
            if path.is_file():
                path.unlink()
                removed = True
        return removed


def _files(folder: Path) -> list[StoredModel]:
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        name = path.relative_to(folder).as_posix()
        partial = name.endswith(PART_SUFFIX)
        found.append(
            StoredModel(name.removesuffix(PART_SUFFIX), path.stat().st_size, partial=partial)
        )
    return found
