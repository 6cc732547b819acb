"""Which outputs are kept: what a file is, read from its first bytes (never from the name
ComfyUI reports), and how large one may be.

A file ComfyUI reports is stored only when its bytes begin as one of the image, video
and audio formats below, and then with that format's content type and extension,
whatever ComfyUI called it: the host never serves our file as anything else (HTML or
SVG above all — Open WebUI serves some files inline, on its own origin, typed by their
name). Text is kept only from our own text outputs (``PreviewAny``, ``SaveText``),
which come from ComfyUI's messages, never from a file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from comfyui_pipe.comfy.outputs import OutputRef

from .errors import OutputNotAllowed, OutputTooLarge

MAX_OUTPUT_BYTES = 2**30
"""One output's bytes unless the admin says otherwise (1 GiB: minutes of 4K H.264 at 40
Mbit/s; ComfyUI's video workflows make a few MB to tens of MB)."""
MAX_OUTPUTS_PER_JOB = 256
"""Files one job may leave (a batch of 64 through four save nodes; more is a server gone
wrong, each file a row in the host's Files)."""
SNIFF_BYTES = 256
"""A file's first bytes read to tell its format (every signature below lies within)."""


@dataclass(frozen=True)
class MediaType:
    label: str
    content_type: str
    extensions: tuple[str, ...]
    """Names ending in one of these keep their name; any other gets the first."""


PNG = MediaType("PNG", "image/png", (".png", ".apng"))  # animated PNG too
JPEG = MediaType("JPEG", "image/jpeg", (".jpg", ".jpeg"))
WEBP = MediaType("WEBP", "image/webp", (".webp",))  # animated WEBP too
GIF = MediaType("GIF", "image/gif", (".gif",))
MP4 = MediaType("MP4", "video/mp4", (".mp4", ".m4v"))
MOV = MediaType("MOV", "video/quicktime", (".mov",))
WEBM = MediaType("WEBM", "video/webm", (".webm",))
MKV = MediaType("MKV", "video/x-matroska", (".mkv",))
FLAC = MediaType("FLAC", "audio/flac", (".flac",))
MP3 = MediaType("MP3", "audio/mpeg", (".mp3",))
WAV = MediaType("WAV", "audio/wav", (".wav",))
OGG = MediaType("OGG", "audio/ogg", (".ogg", ".opus", ".oga"))  # Vorbis or Opus
KEPT_FORMATS = (PNG, JPEG, WEBP, GIF, MP4, MOV, WEBM, MKV, FLAC, MP3, WAV, OGG)

_PREFIXES = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"fLaC", FLAC),
    (b"ID3", MP3),
    (b"OggS", OGG),
)
_RIFF_FORMS = {b"WEBP": WEBP, b"WAVE": WAV}
_EBML_DOCTYPES = ((b"\x42\x82\x84webm", WEBM), (b"\x42\x82\x88matroska", MKV))
_MP3_FRAME_SYNC = frozenset({0xFB, 0xFA, 0xF3, 0xF2, 0xE3, 0xE2})
"""The second byte of an MPEG audio layer III frame header (MPEG-1, 2 and 2.5)."""
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash"}
)
"""ISO media brands of MP4 video (other brands of the box are HEIF/AVIF images, audio
only files, …: not kept)."""


def media_type_of(head: bytes) -> MediaType | None:
    """The kept format a file whose first bytes are ``head`` is in, or None. ``head``
    holds :data:`SNIFF_BYTES` bytes unless the file is shorter."""
    for prefix, media in _PREFIXES:
        if head.startswith(prefix):
            return media
    if head.startswith(b"RIFF"):
        return _RIFF_FORMS.get(head[8:12])
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return next((media for doctype, media in _EBML_DOCTYPES if doctype in head), None)
    if len(head) >= 2 and head[0] == 0xFF and head[1] in _MP3_FRAME_SYNC:
        return MP3
    return None


def _iso_media(head: bytes) -> MediaType | None:
    """An ISO base media file by its ``ftyp`` box: its major brand, then the others."""
    major = head[8:12]
    if major == b"qt  ":
        return MOV
    end = min(int.from_bytes(head[0:4], "big"), len(head))
    brands = {major, *(head[i : i + 4] for i in range(16, end - 3, 4))}
    return MP4 if brands & _MP4_BRANDS else None


def typed(ref: OutputRef, head: bytes) -> OutputRef:
    """``ref`` with the content type, and a name ending in an extension, of the format
    its first bytes ``head`` are in; raises :class:`OutputNotAllowed` for any other.
    Our own text outputs are kept as they are."""
    if ref.text is not None:
        return ref
    media = media_type_of(head)
    if media is None:
        raise OutputNotAllowed(ref.filename)
    stem, dot, suffix = ref.filename.rpartition(".")
    name = ref.filename
    if not dot or f".{suffix}".lower() not in media.extensions:
        name = (stem if dot and stem else ref.filename) + media.extensions[0]
    return replace(ref, filename=name, content_type=media.content_type)


async def checked(
    ref: OutputRef, chunks: AsyncIterator[bytes], max_bytes: int
) -> tuple[OutputRef, AsyncIterator[bytes]]:
    """``ref`` typed by its first bytes (see :func:`typed`), and its chunks, which raise
    :class:`OutputTooLarge` as soon as more than ``max_bytes`` came."""
    head: list[bytes] = []
    size = 0
    while size < SNIFF_BYTES and (chunk := await anext(chunks, None)) is not None:
        head.append(chunk)
        size += len(chunk)
    kept = typed(ref, b"".join(head)[:SNIFF_BYTES])
    return kept, _within(ref.filename, head, chunks, max_bytes)


async def _within(
    name: str, head: list[bytes], rest: AsyncIterator[bytes], max_bytes: int
) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in _joined(head, rest):
        size += len(chunk)
        if size > max_bytes:
            raise OutputTooLarge(name, max_bytes)
        yield chunk


async def _joined(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    async for chunk in rest:
        yield chunk
