"""Download one model file: resumable, verified, and atomic.

Bytes go to ``<file>.part``; an interrupted download resumes from there with a
``Range`` request, and only a complete, verified file is renamed into place, so
ComfyUI never lists a half-written model.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from comfyui_pipe.workflow.model import ModelFile

CHUNK_SIZE = 1024 * 1024
CLI_ADVICE = "Check the network, or place the file yourself and set COMFYUI_FETCH_MODELS=false."
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=15.0)


class FetchError(Exception):
    """A download that cannot succeed; ``str()`` is one line for the operator."""


class _Interrupted(Exception):
    """The transfer stopped early; the ``.part`` file keeps what arrived."""


@dataclass(frozen=True)
class FetchResult:
    path: Path
    status: Literal["present", "downloaded"]
    bytes_received: int = 0


def fetch_model(
    client: httpx.Client,
    model: ModelFile,
    models_dir: Path,
    *,
    attempts: int = 5,
    retry_delay: float = 3.0,
    report: Callable[[str], None] = lambda line: None,
    on_bytes: Callable[[int, int | None], None] = lambda done, total: None,
    advice: str = CLI_ADVICE,
) -> FetchResult:
    """Make sure ``models_dir/<folder>/<filename>`` exists and matches ``model``.

    Retries interrupted transfers, resuming where they stopped. Raises
    :class:`FetchError` when the file cannot be had or does not verify. ``on_bytes(done,
    total)`` hears of every chunk written (``total`` None when unknown); an exception it
    raises stops the download, leaving the ``.part`` file to resume from. ``advice`` ends
    the sentence of a download that kept breaking.
    """
    destination = _destination(models_dir, model)
    label = f"{model.folder}/{model.filename}"
    if destination.exists():
        _verify(destination, model, label, on_mismatch="keep")
        return FetchResult(destination, "present")
    if not model.url:
        raise FetchError(f"{label} is missing and its workflow gives no download URL.")

    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    host = urlsplit(model.url).hostname or model.url
    report(f"Downloading {label} from {host}" + _size_note(model.size_bytes))
    progress = _Progress(label, report, on_bytes)
    for attempt in range(1, attempts + 1):
        try:
            _transfer(client, model, part, progress)
            break
        except (httpx.TransportError, _Interrupted) as error:
            if attempt == attempts:
                raise FetchError(
                    f"Cannot download {label} from {host}: {_reason(error)}. {advice}"
                ) from None
            report(f"{label}: {_reason(error)}; resuming (attempt {attempt + 1} of {attempts})")
            time.sleep(retry_delay)
    _verify(part, model, label, on_mismatch="delete")
    os.replace(part, destination)
    report(f"Saved {label}")
    return FetchResult(destination, "downloaded", progress.received)


def _destination(models_dir: Path, model: ModelFile) -> Path:
    root = models_dir.resolve()
    destination = (root / model.folder / model.filename).resolve()
    if not destination.is_relative_to(root) or destination == root:
        raise FetchError(f"Refusing to write {model.folder}/{model.filename} outside {root}.")
    return destination


def _transfer(client: httpx.Client, model: ModelFile, part: Path, progress: _Progress) -> None:
    """Append the missing bytes to ``part``."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", model.url, headers=headers) as response:
        if response.status_code == 416 and offset:
            if _range_total(response) == offset:
                return  # the part already holds the whole file
            part.unlink()
            raise _Interrupted("the partial download no longer matches the server's file")
        if response.status_code == 206:
            if _range_start(response) != offset:
                part.unlink()
                raise _Interrupted("the server resumed at the wrong offset")
            mode = "ab"
        elif response.status_code == 200:
            mode, offset = "wb", 0  # the server ignored Range: start over
        elif response.status_code in (408, 429) or response.status_code >= 500:
            raise _Interrupted(f"the server answered HTTP {response.status_code}")
        else:
            raise FetchError(
                f"Cannot download {model.folder}/{model.filename}: {model.url} answered "
                f"HTTP {response.status_code}."
            )
        total = model.size_bytes or _expected_total(response, offset)
        progress.start(offset, total)
        with part.open(mode) as file:
            for chunk in response.iter_bytes():  # as it arrives: a break loses nothing
                file.write(chunk)
                progress.advance(len(chunk))
    if total is not None and part.stat().st_size < total:
        raise _Interrupted("the connection closed early")


def _verify(
    path: Path, model: ModelFile, label: str, *, on_mismatch: Literal["keep", "delete"]
) -> None:
    problem = None
    size = path.stat().st_size
    if model.size_bytes is not None and size != model.size_bytes:
        problem = f"is {size} bytes, expected {model.size_bytes}"
    elif model.sha256 and _sha256(path) != model.sha256.lower():
        problem = "has the wrong sha256 checksum"
    if problem is None:
        return
    if on_mismatch == "delete":
        path.unlink()
        raise FetchError(f"Downloaded {label} {problem}; deleted it. The source may have changed.")
    raise FetchError(
        f"{path} {problem}; it is not the file the workflow expects. "
        "Delete it to download it again."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _range_start(response: httpx.Response) -> int | None:
    # Content-Range: bytes 100-199/200
    unit, _, spec = response.headers.get("content-range", "").partition(" ")
    start = spec.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdigit() else None


def _range_total(response: httpx.Response) -> int | None:
    total = response.headers.get("content-range", "").rpartition("/")[2]
    return int(total) if total.isdigit() else None


def _expected_total(response: httpx.Response, offset: int) -> int | None:
    length = response.headers.get("content-length", "")
    return offset + int(length) if length.isdigit() else None


def _reason(error: Exception) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect ({error or 'offline?'})"
    if isinstance(error, httpx.TimeoutException):
        return "the server stopped answering"
    if isinstance(error, httpx.TransportError):
        return "the connection broke"
    return str(error)


def _size_note(size: int | None) -> str:
    return f" ({size / 1e9:.2f} GB)" if size else ""


class _Progress:
    """Counts bytes over all attempts; reports each tenth of the file, so logs stay short."""

    def __init__(
        self,
        label: str,
        report: Callable[[str], None],
        on_bytes: Callable[[int, int | None], None],
    ) -> None:
        self._label, self._report, self._on_bytes = label, report, on_bytes
        self.received = 0
        self._done, self._next_tenth = 0, 1
        self._total: int | None = None

    def start(self, offset: int, total: int | None) -> None:
        self._done, self._total = offset, total
        self._next_tenth = self._tenths() + 1
        self._on_bytes(self._done, self._total)

    def advance(self, size: int) -> None:
        self.received += size
        self._done += size
        self._on_bytes(self._done, self._total)
        if self._total and self._tenths() >= self._next_tenth:
            self._next_tenth = self._tenths() + 1
            self._report(f"{self._label}: {min(self._tenths(), 10) * 10}%")

    def _tenths(self) -> int:
        return self._done * 10 // self._total if self._total else 0
