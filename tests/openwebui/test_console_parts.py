"""The console's parts on their own: where a model file may go (names, and the folder's
own check, links included), the thumbnails made when an output is stored, the page as it
is served (its content policy, revalidated, /comfyui leading to it) and the chat's styles
with the media rule whatever the browser holds."""

from __future__ import annotations

import io
import os
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from comfyui_pipe.openwebui.gallery.thumbnails import SIZE, preview_of
from comfyui_pipe.openwebui.model_files.folders import ModelsFolder, OutsideFolder
from comfyui_pipe.openwebui.model_files.names import filename_problem, folder_problem, url_problem


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("model.safetensors", None),
        ("SD1.5/model.ckpt", None),
        ("../model.safetensors", "leaves its folder"),
        ("a/../../model.safetensors", "leaves its folder"),
        ("a//b.safetensors", "leaves its folder"),
        ("/etc/model.safetensors", "absolute path"),
        ("C:/model.safetensors", "absolute path"),
        ("a\\b.safetensors", "absolute path"),
        ("model\n.safetensors", "control characters"),
        ("run.py", "ends in one of"),
        ("x" * 300 + ".pt", "1 to 255 characters"),
    ],
)
def test_a_model_file_name_stays_inside_its_folder(name: str, says: str | None) -> None:
    problem = filename_problem(name)

    assert problem is None if says is None else says in str(problem)


def test_folder_names_and_addresses() -> None:
    assert folder_problem("checkpoints") is None and folder_problem("text_encoders") is None
    assert folder_problem("../x") and folder_problem("a/b") and folder_problem("")
    assert url_problem("https://huggingface.co/a/b.safetensors") is None
    assert url_problem("ftp://a/b") and url_problem("file:///etc/passwd") and url_problem("/x")


def test_the_folder_refuses_a_place_outside_it_even_through_a_link(tmp_path: Path) -> None:
    root = tmp_path / "models"
    (root / "checkpoints").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, root / "checkpoints" / "escape")
    folder = ModelsFolder(root)

    assert folder.place("checkpoints", "a.safetensors") == root / "checkpoints" / "a.safetensors"
    with pytest.raises(OutsideFolder):
        folder.place("checkpoints", "escape/a.safetensors")
    with pytest.raises(OutsideFolder):
        folder.place("..", "a.safetensors")


def test_folder_contents_sizes_and_unfinished_downloads(tmp_path: Path) -> None:
    (tmp_path / "loras" / "sub").mkdir(parents=True)
    (tmp_path / "loras" / "a.safetensors").write_bytes(b"x" * 10)
    (tmp_path / "loras" / "sub" / "b.safetensors.part").write_bytes(b"y" * 5)
    folder = ModelsFolder(tmp_path)

    [loras] = folder.contents()

    assert [(f.name, f.size, f.partial) for f in loras.files] == [
        ("a.safetensors", 10, False),
        ("sub/b.safetensors", 5, True),
    ]
    assert loras.size == 15
    assert folder.partial_size("loras", "sub/b.safetensors") == 5
    assert folder.remove("loras", "sub/b.safetensors") and not folder.remove("loras", "nope.pt")


def _png(size: tuple[int, int]) -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, "PNG")
    out.seek(0)
    return out


def test_an_image_thumbnail_is_a_small_webp_and_knows_the_images_size() -> None:
    preview = preview_of(_png((1024, 512)), "image")

    thumb = Image.open(io.BytesIO(preview.thumbnail or b""))
    assert thumb.format == "WEBP" and thumb.size == (SIZE, SIZE // 2)
    assert (preview.width, preview.height) == (1024, 512)


def test_a_video_gets_its_first_frame_as_a_poster() -> None:
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for shade in (40, 200):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), shade, np.uint8), "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out.seek(0)

    preview = preview_of(out, "video")

    poster = Image.open(io.BytesIO(preview.thumbnail or b""))
    assert poster.size == (96, 64) and (preview.width, preview.height) == (96, 64)
    assert poster.convert("L").getpixel((48, 32)) < 100  # the first frame, the dark one


def test_text_gets_its_start_sound_nothing_and_a_broken_file_no_thumbnail() -> None:
    assert preview_of(io.BytesIO("é".encode() * 1000), "text").excerpt == "é" * 280
    assert preview_of(io.BytesIO(b"ID3"), "audio").thumbnail is None
    broken = preview_of(io.BytesIO(b"not an image"), "image")
    assert broken.thumbnail is None and broken.width is None


def test_the_page_is_served_with_its_policy_and_revalidated(http: httpx.Client) -> None:
    page = http.get("/comfyui/")
    script = http.get("/comfyui/app.js")
    bare = http.get("/comfyui", follow_redirects=False)

    assert page.status_code == 200 and "<title>ComfyUI console</title>" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-cache"
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert bare.status_code == 308 and bare.headers["location"] == "/comfyui/"
    assert http.get("/comfyui/nope.js").status_code == 404


def test_open_webuis_custom_styles_come_with_the_media_rule_every_time(http: httpx.Client) -> None:
    first = http.get("/static/custom.css")
    again = http.get(
        "/static/custom.css", headers={"If-None-Match": first.headers.get("etag", "x")}
    )

    for response in (first, again):
        assert response.status_code == 200
        assert 'video[src*="/api/v1/files/"]' in response.text
        assert int(response.headers["content-length"]) == len(response.content)
