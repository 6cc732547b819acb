"""Videos and animations in a real browser: a prompt to the bundled Wan 2.2 model ends
with a video player in the chat that plays the clip, and the clip downloads through
Open WebUI's files API; an animated WEBP is shown and stored animated."""

from __future__ import annotations

import httpx
from PIL import Image

from openwebui.harness import Account, OpenWebUIServer
from openwebui.test_api_admin import API
from openwebui.test_api_jobs import finished, started
from openwebui.test_browser import open_chat_with, page  # noqa: F401 (the fixture)

FILE_URL = "/api/v1/files/"


def test_a_video_result_plays_in_the_chat_and_downloads_through_the_api(
    page: object,  # noqa: F811
    owui: OpenWebUIServer,
    http: httpx.Client,
    user: Account,
) -> None:
    open_chat_with(page, owui, "comfyui.wan22_t2v")
    message_box = page.locator("#chat-input")
    message_box.click()
    message_box.type("a red kite over a hill --steps 2 --size 320x192 --seed 5")
    page.keyboard.press("Enter")

    video = page.locator(f"video[src*='{FILE_URL}']").first
    video.wait_for(timeout=90_000)
    playing = video.evaluate(
        """async video => {
            video.muted = true;
            await video.play();
            await new Promise(done => setTimeout(done, 300));
            return {width: video.videoWidth, height: video.videoHeight,
                    duration: video.duration, time: video.currentTime, error: video.error};
        }"""
    )

    assert (playing["width"], playing["height"], playing["error"]) == (320, 192, None)
    assert playing["duration"] > 1.5 and playing["time"] > 0
    file_id = video.get_attribute("src").split(FILE_URL, 1)[1].split("/", 1)[0]
    download = http.get(f"{FILE_URL}{file_id}/content", headers=user.headers)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("video/mp4")
    assert download.content[4:8] == b"ftyp"


ANIMATED = {
    "4": {"class_type": "VAELoader", "inputs": {"vae_name": "wan2.2_vae.safetensors"}},
    "5": {
        "class_type": "Wan22ImageToVideoLatent",
        "inputs": {"vae": ["4", 0], "width": 96, "height": 64, "length": 8, "batch_size": 1},
    },
    "1": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 0]}},
    "2": {
        "class_type": "SaveAnimatedWEBP",
        "inputs": {
            "images": ["1", 0],
            "filename_prefix": "anim",
            "fps": 8.0,
            "lossless": False,
            "quality": 80,
            "method": "default",
        },
    },
}


def test_an_animated_result_is_listed_stored_and_shown_animated(
    page: object,  # noqa: F811
    owui: OpenWebUIServer,
    http: httpx.Client,
    admin: Account,
    user: Account,
) -> None:
    upload = {"id": "animated_test", "workflow": ANIMATED, "meta": {"title": "Animation"}}
    created = http.post(f"{API}/workflows", headers=admin.headers, json=upload)
    assert created.status_code == 201, created.text
    try:
        assert created.json()["outputs"] == ["animated"]
        listed = http.get(f"{API}/workflows", headers=admin.headers).json()
        [wan] = [w for w in listed if w["id"] == "wan22_t2v"]
        assert (wan["outputs"], wan["available"]) == (["video"], True)

        job = finished(http, user, started(http, user, workflow="animated_test", prompt="x")["id"])
        assert job["state"] == "completed", job["error"]
        (file_id,) = job["output_file_ids"]
        stored = http.get(f"{FILE_URL}{file_id}/content", headers=user.headers)
        assert stored.headers["content-type"].startswith("image/webp")
        with Image.open(__import__("io").BytesIO(stored.content)) as webp:
            assert webp.is_animated and webp.n_frames == 8

        open_chat_with(page, owui, "comfyui.animated_test")
        message_box = page.locator("#chat-input")
        message_box.click()
        message_box.type("spin")
        page.keyboard.press("Enter")
        image = page.locator(f"img[src^='{FILE_URL}']").first
        image.wait_for(timeout=60_000)
        assert image.evaluate("img => img.complete && img.naturalWidth") == 96
    finally:
        http.delete(f"{API}/workflows/animated_test", headers=admin.headers)
