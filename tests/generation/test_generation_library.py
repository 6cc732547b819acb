"""Every bundled workflow generates on a current ComfyUI (the double in v0.33 mode, with
the library's models installed), and every kind of output — picture, animated picture,
video, audio, text — is stored as a file of that kind, streamed from the server."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import av
import pytest
from comfyui_double import ComfyDouble
from comfyui_double.graphs import animated_webp_prompt
from conftest import FAST, FolderSink, MemoryJobStore
from default_models import DEFAULT_MODELS
from PIL import Image

from comfyui_pipe.generation import (
    BackendPool,
    GenerationRequest,
    GenerationService,
    InputImage,
    JobState,
    parse_message,
)
from comfyui_pipe.workflow import Workflow, bundled_workflows, parse_workflow


def rgba_png(size: tuple[int, int] = (96, 64), transparent_box: bool = False) -> bytes:
    image = Image.new("RGBA", size, (200, 120, 40, 255))
    if transparent_box:
        image.paste((0, 0, 0, 0), (20, 20, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# Graphs for the output kinds the library itself does not make (audio, animation, text).
AUDIO = {
    "1": {"class_type": "EmptyLatentAudio", "inputs": {"seconds": 1.5, "batch_size": 1}},
    "2": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
    "3": {"class_type": "VAEDecodeAudio", "inputs": {"samples": ["1", 0], "vae": ["2", 0]}},
    "4": {"class_type": "SaveAudio", "inputs": {"audio": ["3", 0], "filename_prefix": "audio/t"}},
}
ANIMATED = {
    **animated_webp_prompt(width=64, height=48, frames=6, fps=6.0),
    "3": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
}
EXTRA = {
    "audio_test": parse_workflow(AUDIO, "audio_test", {"kind": "audio"}),
    "animated_test": parse_workflow(ANIMATED, "animated_test"),
}


@pytest.fixture
async def current_service(
    comfy_double_factory, store: MemoryJobStore, sink: FolderSink
) -> AsyncIterator[GenerationService]:
    double: ComfyDouble = await comfy_double_factory(models=DEFAULT_MODELS, version="0.33")
    workflows: dict[str, Workflow] = {**bundled_workflows(), **EXTRA}
    async with AsyncExitStack() as stack:
        pool = BackendPool([double.url], timeouts=FAST)
        service = GenerationService(pool, workflows, store, sink)
        yield await stack.enter_async_context(service)


async def generate(
    service: GenerationService, workflow_id: str, message: str, images: list[bytes]
) -> JobState:
    parsed = parse_message(message)
    attached = [InputImage(f"in-{i}.png", data, "image/png") for i, data in enumerate(images)]
    request = GenerationRequest("alice", workflow_id, parsed.prompt, parsed.options, attached)
    record = await service.start(request)
    done = await service.wait(record.id)
    assert done.failure is None
    return done.state


def kind_of_file(path: Path) -> str:
    head = path.read_bytes()[:12]
    if head.startswith(b"\x89PNG"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"fLaC"):
        return "flac"
    return "other"


LIBRARY_RUNS = {
    "sd_turbo_txt2img": ("a cabin --steps 2", 0, "png"),
    "sd15_txt2img": ("a cabin --steps 2", 0, "png"),
    "sd15_img2img": ("watercolour --steps 2", 1, "png"),
    "sd15_hires_txt2img": ("a village --steps 2", 0, "png"),
    "sd15_inpaint": ("flowers --steps 2", 1, "png"),
    "sdxl_txt2img": ("a fox --steps 2 --size 512x512", 0, "png"),
    "flux_schnell_txt2img": ("a lighthouse --steps 2 --size 256x256", 0, "png"),
    "flux_dev_txt2img": ("a lighthouse --steps 2 --size 256x256", 0, "png"),
    "flux_kontext_edit": ("make it night --steps 2", 1, "png"),
    "qwen_image_edit": ("add a sign --steps 2", 1, "png"),
    "upscale_2x": ("", 1, "png"),
    "upscale_4x": ("", 1, "png"),
    "wan22_t2v": ("a kite --steps 2 --size 320x192", 0, "mp4"),
    "wan22_i2v": ("the kite flies away --steps 2 --size 320x192", 1, "mp4"),
}


def test_the_run_list_covers_the_whole_library() -> None:
    assert set(LIBRARY_RUNS) == set(bundled_workflows())


@pytest.mark.parametrize("workflow_id", sorted(LIBRARY_RUNS))
async def test_every_bundled_workflow_generates_on_a_current_comfyui(
    workflow_id: str, current_service: GenerationService, sink: FolderSink
) -> None:
    message, images, expected = LIBRARY_RUNS[workflow_id]

    state = await generate(current_service, workflow_id, message, [rgba_png()] * images)

    assert state is JobState.COMPLETED
    (saved,) = sink.saved
    assert kind_of_file(saved.path) == expected
    assert saved.metadata["workflow"] == workflow_id


async def test_upscalers_enlarge_by_their_factor(
    current_service: GenerationService, sink: FolderSink
) -> None:
    for workflow_id in ("upscale_2x", "upscale_4x"):
        await generate(current_service, workflow_id, "", [rgba_png((96, 64))])

    sizes = [Image.open(saved.path).size for saved in sink.saved]
    assert sizes == [(192, 128), (384, 256)]


async def test_a_quick_job_without_a_sampler_writes_its_start_with_its_end(
    current_service: GenerationService, store: MemoryJobStore
) -> None:
    image = InputImage("in.png", rgba_png((96, 64)), "image/png")
    request = GenerationRequest("alice", "upscale_2x", "", images=[image])
    record = await current_service.start(request)
    done = await current_service.wait(record.id)

    assert done.state is JobState.COMPLETED and done.started_at is not None
    assert store.writes[record.id] == 3  # created, queued on ComfyUI, finished


async def test_inpaint_with_a_mask_image_as_second_attachment(
    current_service: GenerationService, sink: FolderSink
) -> None:
    photo, mask = rgba_png(), rgba_png(transparent_box=True)

    assert await generate(current_service, "sd15_inpaint", "a cat", [photo, mask]) is (
        JobState.COMPLETED
    )
    assert kind_of_file(sink.saved[0].path) == "png"


async def test_a_video_is_an_h264_mp4_of_the_clip_length(
    current_service: GenerationService, sink: FolderSink
) -> None:
    await generate(current_service, "wan22_t2v", "a kite --steps 2 --size 320x192", [])

    (saved,) = sink.saved
    assert saved.stored.content_type == "video/mp4"
    with av.open(str(saved.path)) as container:
        (stream,) = container.streams.video
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 320, 192)
    assert frames == 41  # the workflow's short-clip default


async def test_audio_is_stored_as_flac(
    current_service: GenerationService, sink: FolderSink
) -> None:
    await generate(current_service, "audio_test", "", [])

    (saved,) = sink.saved
    assert (kind_of_file(saved.path), saved.stored.content_type) == ("flac", "audio/flac")
    with av.open(str(saved.path)) as container:
        assert container.duration / 1_000_000 == pytest.approx(1.5, abs=0.05)


async def test_animated_webp_and_text_outputs_of_one_job(
    current_service: GenerationService, sink: FolderSink
) -> None:
    await generate(current_service, "animated_test", "", [])

    by_type = {saved.stored.content_type: saved for saved in sink.saved}
    assert set(by_type) == {"image/webp", "text/plain"}
    with Image.open(by_type["image/webp"].path) as webp:
        assert webp.is_animated and webp.n_frames == 6
    assert by_type["text/plain"].path.read_text("utf-8").strip()
