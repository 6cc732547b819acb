"""The console from the chat: each Action under a result has its own icon and label (four
identical sparkles before), a result links to itself in the console, and a video shows no
larger than it is (a small clip was stretched to the chat's full width)."""

from __future__ import annotations

import httpx

from openwebui.console_browser import browser, needs_chromium, signed_in
from openwebui.harness import Account, OpenWebUIServer
from openwebui.test_browser import open_chat_with, send_message

ACTION_NAMES = ["Upscale", "Variations", "Use as input", "Re-run with changed options"]

pytestmark = needs_chromium


def test_each_action_is_offered_with_its_own_icon(http: httpx.Client, user: Account) -> None:
    models = http.get("/api/models", headers=user.headers).json()["data"]
    [model] = [m for m in models if m["id"] == "comfyui.sd15_txt2img"]

    actions = {action["name"]: action["icon"] for action in model["actions"]}

    assert sorted(actions) == sorted(ACTION_NAMES)
    assert len(set(actions.values())) == 4
    assert all(icon.startswith("data:image/svg+xml;base64,") for icon in actions.values())


def test_a_result_shows_four_distinct_action_icons_and_links_to_the_console(
    owui: OpenWebUIServer, user: Account
) -> None:
    with browser() as chromium:
        page = signed_in(chromium, owui, user)
        open_chat_with(page, owui, "comfyui.sd15_txt2img")
        send_message(page, "a blue heron --steps 2 --seed 31")
        page.get_by_text("seed 31").first.wait_for(timeout=60_000)

        icons = [
            page.get_by_role("button", name=name).last.locator("img").get_attribute("src")
            for name in ACTION_NAMES
        ]
        link = page.get_by_role("link", name="Open in the ComfyUI console").last
        href = link.get_attribute("href")
        file_id = (
            page.locator("img[src^='/api/v1/files/']").first.get_attribute("src").split("/")[4]
        )

        assert len(set(icons)) == 4 and None not in icons
        assert href == f"/comfyui/#/generations/{file_id}"
        page.goto(f"{owui.url}{href}")
        dialog = page.get_by_role("dialog")
        dialog.wait_for(timeout=30_000)
        assert "a blue heron" in dialog.inner_text()


def test_a_small_video_is_shown_at_its_own_size_not_the_chats_width(
    owui: OpenWebUIServer, http: httpx.Client, user: Account
) -> None:
    rules = http.get("/static/custom.css")
    assert rules.status_code == 200 and "video[src*=" in rules.text
    with browser() as chromium:
        page = signed_in(chromium, owui, user)
        open_chat_with(page, owui, "comfyui.wan22_t2v")
        send_message(page, "ripples --size 320x192 --steps 2")
        video = page.locator("video[src*='/api/v1/files/']").first
        video.wait_for(timeout=60_000)
        video.evaluate("v => v.readyState >= 1 || new Promise(r => v.onloadedmetadata = r)")

        room = "v.parentElement.clientWidth"
        shown = video.evaluate(
            f"v => ({{width: v.clientWidth, natural: v.videoWidth, room: {room}}})"
        )

    assert shown["natural"] == 320
    assert shown["width"] == shown["natural"] < shown["room"]
