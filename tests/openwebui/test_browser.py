"""A person in a real browser: Open WebUI's own page, our model, a prompt typed
into the message box, the image and the final status on screen.

Runs Debian's Chromium (``/usr/bin/chromium``, installed by ``scripts/test``)
through Playwright, against the session's Open WebUI and ComfyUI double.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (scripts/test installs it)"
)


@pytest.fixture
def page(owui: OpenWebUIServer, user: Account, tmp_path: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # signed in before any of the app's scripts run (its sign-in page may clear a token
        # set after it loaded)
        page.add_init_script(f"localStorage.setItem('token', {json.dumps(user.token)})")
        try:
            yield page
        finally:
            page.screenshot(path=str(tmp_path / "last.png"))
            browser.close()


def open_chat_with(page: object, owui: OpenWebUIServer, model_id: str) -> None:
    page.goto(f"{owui.url}/?models={model_id}")
    page.locator("#chat-input").wait_for(timeout=30_000)
    release_notes = page.get_by_text("Okay, Let's Go!")
    if release_notes.count():
        release_notes.click()


def send_message(page: object, text: str) -> None:
    """Type ``text`` in the message box and send it, as a person does."""
    message_box = page.locator("#chat-input")
    message_box.click()
    message_box.type(text)
    page.keyboard.press("Enter")


def test_a_prompt_typed_in_the_web_ui_shows_progress_then_the_image(
    page: object, owui: OpenWebUIServer, comfy: ThreadedDouble
) -> None:
    open_chat_with(page, owui, "comfyui.sd15_txt2img")
    message_box = page.locator("#chat-input")
    message_box.click()
    # The message box turns the typed "--" into an em dash: the options must still apply.
    message_box.type("a red fox in the snow --steps 4 --seed 77")
    page.keyboard.press("Enter")

    image = page.locator("img[src^='/api/v1/files/']").first
    image.wait_for(timeout=60_000)
    done = page.get_by_text("Done in").first
    done.wait_for(timeout=30_000)

    assert "seed 77" in done.inner_text()
    assert page.get_by_text("4 steps").count() >= 1
    assert image.evaluate("img => img.complete && img.naturalWidth") == 512
    # what ComfyUI received is the prompt without the options
    [submitted] = [
        body["prompt"]
        for body in comfy.double.prompts_received
        if any(
            node["inputs"].get("seed") == 77
            for node in body["prompt"].values()
            if node["class_type"] == "KSampler"
        )
    ]
    texts = [n["inputs"]["text"] for n in submitted.values() if n["class_type"] == "CLIPTextEncode"]
    assert "a red fox in the snow" in texts


def test_the_variations_button_under_a_result_adds_a_new_result_to_that_message(
    page: object, owui: OpenWebUIServer, comfy: ThreadedDouble
) -> None:
    open_chat_with(page, owui, "comfyui.sd15_txt2img")
    send_message(page, "a lighthouse at dusk --steps 2 --seed 12")
    results = page.locator("img[src^='/api/v1/files/']")
    results.first.wait_for(timeout=30_000)
    page.get_by_text("seed 12").first.wait_for(timeout=30_000)
    received_before = len(comfy.double.prompts_received)

    page.get_by_role("button", name="Variations").last.click()

    page.wait_for_function(
        "() => new Set([...document.querySelectorAll(\"img[src^='/api/v1/files/']\")]"
        ".map(img => img.getAttribute('src'))).size === 2",
        timeout=30_000,
    )
    [variation] = comfy.double.prompts_received[received_before:]
    seeds = [
        node["inputs"]["seed"]
        for node in variation["prompt"].values()
        if node["class_type"] == "KSampler"
    ]
    assert seeds and seeds != [12]
