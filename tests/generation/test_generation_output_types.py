"""Issue 18, item 7, in the engine: an output is kept only when its bytes are an image,
video or audio file of a kept format, and then typed and named by those bytes whatever
ComfyUI called it; one over the size limit fails its job; a flood of progress frames
and previews leaves memory flat and the job completes. The ComfyUI double runs in its
malicious mode (``Faults.forged_outputs``, ``Faults.event_flood``)."""

from __future__ import annotations

import tracemalloc

import pytest
from comfyui_double import HTML_PAGE as HTML
from comfyui_double import SVG_IMAGE as SVG
from comfyui_double import ComfyDouble, ForgedOutput
from conftest import FolderSink, ServiceFactory
from test_generation_service import ask
from test_generation_service import png as png_bytes

from comfyui_pipe.comfy import OutputRef
from comfyui_pipe.generation import JobState, Policy
from comfyui_pipe.generation.failures import Failure, FailureKind
from comfyui_pipe.generation.output_types import (
    KEPT_FORMATS,
    MAX_OUTPUTS_PER_JOB,
    media_type_of,
    typed,
)
from comfyui_pipe.openwebui.presenter import describe_failure


def png() -> bytes:
    return png_bytes("green")


def ref(filename: str) -> OutputRef:
    return OutputRef(filename, "", "output", "image", "9", "text/html")


@pytest.mark.parametrize(
    ("head", "label"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "PNG"),
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "JPEG"),
        (b"GIF89a\x01\0\x01\0", "GIF"),
        (b"RIFF\x04\x02\0\0WEBPVP8X", "WEBP"),
        (b"\0\0\0 ftypisom\0\0\x02\0isomiso2avc1mp41", "MP4"),
        (b"\0\0\0\x14ftypqt  \0\0\x02\0qt  ", "MOV"),
        (
            b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webm",
            "WEBM",
        ),
        (b"\x1aE\xdf\xa3\xa3B\x86\x81\x01B\xf7\x81\x01B\x82\x88matroska", "MKV"),
        (b"fLaC\0\0\0\x22", "FLAC"),
        (b"ID3\x04\0\0\0\0\0#TSSE", "MP3"),
        (b"\xff\xfb\x90\x64\0", "MP3"),
        (b"RIFFF\x1e\0\0WAVEfmt ", "WAV"),
        (b"OggS\0\x02\0\0\0\0\0\0\0\0\x91r0;\0\0\0\0\x86\xd4\xeeR\x01\x13OpusHead", "OGG"),
    ],
)
def test_each_kept_format_is_told_by_its_first_bytes(head: bytes, label: str) -> None:
    media = media_type_of(head)
    assert media is not None and media.label == label


@pytest.mark.parametrize(
    "head",
    [
        HTML,
        SVG,
        b"<?xml version='1.0'?><svg/>",
        b"hello, plain text",
        b"%PDF-1.7",
        b"PK\x03\x04",  # a zip (and every office file)
        b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf",  # AVIF: an image format not kept
        b"\0\0\0\x18ftypM4A \0\0\0\0M4A isom"[:12],  # the box cut short
        b"RIFF\0\0\0\0AVI LIST",
        b"\x1aE\xdf\xa3B\x82\x84abcd",
        b"",
    ],
)
def test_anything_else_is_not_kept(head: bytes) -> None:
    assert media_type_of(head) is None


def test_a_file_is_named_and_typed_by_its_bytes_whatever_comfyui_called_it() -> None:
    assert (typed(ref("x.html"), png()).filename, typed(ref("x.html"), png()).content_type) == (
        "x.png",
        "image/png",
    )
    assert typed(ref("x.svg"), png()).filename == "x.png"
    assert typed(ref("noname"), png()).filename == "noname.png"
    assert typed(ref("clip.m4v"), b"\0\0\0 ftypisom\0\0\x02\0isomiso2").filename == "clip.m4v"
    assert typed(ref("photo.JPEG"), b"\xff\xd8\xff\xe0").filename == "photo.JPEG"


def test_the_kept_formats_are_images_video_and_audio_only() -> None:
    kinds = {media.content_type.split("/")[0] for media in KEPT_FORMATS}
    extensions = [ext for media in KEPT_FORMATS for ext in media.extensions]
    assert kinds == {"image", "video", "audio"}
    assert not {".html", ".htm", ".svg", ".xml", ".xhtml", ".js"} & set(extensions)


async def test_an_html_file_comfyui_reports_fails_the_job_and_nothing_is_stored(
    double: ComfyDouble, make_service: ServiceFactory, sink: FolderSink
) -> None:
    double.faults.forged_outputs = [ForgedOutput("evil.html", HTML)]
    service = await make_service([double.url])

    record = await service.wait((await service.start(ask("a cat --steps 2"))).id)

    assert record.state is JobState.FAILED
    assert record.failure is not None
    assert (record.failure.kind, record.failure.file) == (
        FailureKind.OUTPUT_NOT_ALLOWED,
        "evil.html",
    )
    assert sink.saved == [] and record.output_file_ids == []


async def test_a_refused_second_output_takes_the_first_one_stored_with_it(
    double: ComfyDouble, make_service: ServiceFactory, sink: FolderSink
) -> None:
    double.faults.forged_outputs = [ForgedOutput("fine.png", png()), ForgedOutput("x.svg", SVG)]
    service = await make_service([double.url])

    record = await service.wait((await service.start(ask("a cat --steps 2"))).id)

    assert record.state is JobState.FAILED
    assert record.failure is not None and record.failure.file == "x.svg"
    assert sink.saved == [] and not list(sink.folder.iterdir())


async def test_a_png_comfyui_calls_html_is_stored_as_a_png(
    double: ComfyDouble, make_service: ServiceFactory, sink: FolderSink
) -> None:
    double.faults.forged_outputs = [ForgedOutput("x.html", png(), content_type="text/html")]
    service = await make_service([double.url])

    record = await service.wait((await service.start(ask("a cat --steps 2"))).id)

    assert record.state is JobState.COMPLETED
    [saved] = sink.saved
    assert (saved.stored.name, saved.stored.content_type) == ("x.png", "image/png")
    assert saved.path.read_bytes() == png()


async def test_an_output_over_the_size_limit_fails_the_job_before_it_is_all_read(
    double: ComfyDouble, make_service: ServiceFactory, sink: FolderSink
) -> None:
    limit = 2**20
    double.faults.forged_outputs = [ForgedOutput("huge.png", png(), size=64 * limit)]
    service = await make_service([double.url], Policy(max_output_bytes=limit))

    record = await service.wait((await service.start(ask("a cat --steps 2"))).id)

    assert record.state is JobState.FAILED
    assert record.failure is not None
    assert (record.failure.kind, record.failure.size_limit) == (FailureKind.OUTPUT_TOO_LARGE, limit)
    assert sink.saved == []


async def test_a_flood_of_progress_frames_and_previews_keeps_memory_bounded(
    double: ComfyDouble, make_service: ServiceFactory
) -> None:
    flood, preview = 5_000, b"\xff\xd8\xff" + bytes(range(256)) * 64  # 16 KB each
    service = await make_service([double.url])
    await service.wait((await service.start(ask("a cat --steps 2"))).id)  # warmed up
    double.faults.event_flood, double.faults.flood_preview = flood, preview

    tracemalloc.start()
    try:
        record = await service.wait((await service.start(ask("a cat --steps 2"))).id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert record.state is JobState.COMPLETED
    # the previews alone, all held, would take 80 MB; a bounded queue holds some 1,024
    assert peak < flood * len(preview) / 2, peak


async def test_more_files_than_any_workflow_makes_fail_the_job_and_nothing_is_stored(
    double: ComfyDouble, make_service: ServiceFactory, sink: FolderSink
) -> None:
    too_many = MAX_OUTPUTS_PER_JOB + 1
    double.faults.forged_outputs = [ForgedOutput(f"{n}.png", png()) for n in range(too_many)]
    service = await make_service([double.url])

    record = await service.wait((await service.start(ask("a cat --steps 2"))).id)

    assert record.state is JobState.FAILED
    assert record.failure == Failure(FailureKind.TOO_MANY_OUTPUTS, count=too_many)
    assert describe_failure(record.failure) == (
        f"ComfyUI returned {too_many} files for one generation; at most "
        f"{MAX_OUTPUTS_PER_JOB} are kept, so nothing was stored."
    )
    assert sink.saved == []
