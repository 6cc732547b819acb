"""The Tool in a real browser: a tool-calling model asked for a video calls our Tool and
answers in its own words, and the chat shows — and keeps — a player that plays the
stored clip (our media Filter adds it once the answer is complete)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from openwebui.harness import Account, OpenWebUIServer
from openwebui.scripted_connection import VIDEO_WORKFLOW
from openwebui.scripted_model import MODEL_ID, ScriptedModel, relay
from openwebui.test_browser import (  # noqa: F401 (the fixture)
    open_chat_with,
    page,
    send_message,
)
from openwebui.test_browser_media import FILE_URL, PLAY_FOR_A_MOMENT, file_id_in
from openwebui.test_tool import calls

OWN_WORDS = "Your clip of the waves is ready."


@pytest.fixture
def model_that_does_not_copy_players(scripted: ScriptedModel) -> Iterator[ScriptedModel]:
    """Asked for a clip it calls ``make_video``; then it answers in its own words, without
    the player lines the Tool gave it."""
    scripted.script = calls("make_video", prompt="waves at night", workflow=VIDEO_WORKFLOW)
    scripted.reply = lambda tool_result: OWN_WORDS
    yield scripted
    scripted.reply = relay


def test_a_video_made_through_the_tool_plays_in_the_chat(
    page: object,  # noqa: F811
    owui: OpenWebUIServer,
    http: httpx.Client,
    user: Account,
    model_that_does_not_copy_players: ScriptedModel,
) -> None:
    open_chat_with(page, owui, MODEL_ID)
    send_message(page, "Make a short clip of waves at night")

    page.get_by_text(OWN_WORDS).first.wait_for(timeout=45_000)
    page.locator(f"video[src*='{FILE_URL}']").first.wait_for(timeout=15_000)
    page.reload()  # what the chat saved, not only what the page was sent
    video = page.locator(f"video[src*='{FILE_URL}']")
    video.first.wait_for(timeout=30_000)
    assert video.count() == 1
    playing = video.first.evaluate(PLAY_FOR_A_MOMENT)

    assert playing["error"] is None and playing["duration"] > 0 and playing["time"] > 0
    assert (playing["width"], playing["height"]) == (64, 64)
    assert video.first.evaluate("media => media.readyState") >= 2
    file_id = file_id_in(video.first.get_attribute("src"))
    stored = http.get(f"{FILE_URL}{file_id}", headers=user.headers)
    assert stored.json()["meta"]["comfyui"]["workflow"] == VIDEO_WORKFLOW
