"""Open WebUI's own Image button, in a real browser, on our workflows: with its image
feature pointed here (``PUT /image-engine``), a person switches on "Image" in the
message box's integrations menu and asks a chat model for a picture; the model calls
Open WebUI's built-in ``generate_image``, which makes the image with our workflow,
through our queue, as the person's job — and the chat shows it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.scripted_connection import PUBLIC_READ
from openwebui.scripted_model import MODEL_ID, ScriptedModel
from openwebui.test_browser import open_chat_with, page, send_message  # noqa: F401
from openwebui.test_image_engine import image_engine  # noqa: F401
from openwebui.test_tool import calls

API = "/api/v1/comfyui"
PLAIN_MODEL = "scripted-plain"
"""The scripted model without our Tool: the built-in image tools are its only ones."""
SHOWN_IMAGE = "img[src^='/api/v1/files/']"


@pytest.fixture
def plain_model(http: httpx.Client, admin: Account, scripted: ScriptedModel) -> Iterator[str]:
    http.post(
        "/api/v1/models/create",
        headers=admin.headers,
        json={
            "id": PLAIN_MODEL,
            "base_model_id": MODEL_ID,
            "name": "Plain",
            "meta": {},
            "params": {},
            "access_grants": [PUBLIC_READ],
        },
    ).raise_for_status()
    scripted.script = calls("generate_image", prompt="a paper boat on a pond")
    yield PLAIN_MODEL
    http.post(
        "/api/v1/models/model/delete", headers=admin.headers, json={"id": PLAIN_MODEL}
    ).raise_for_status()


def test_the_image_button_makes_an_image_with_our_workflow(
    page: object,  # noqa: F811
    owui: OpenWebUIServer,
    http: httpx.Client,
    user: Account,
    comfy: ThreadedDouble,
    image_engine: dict[str, object],  # noqa: F811
    plain_model: str,
) -> None:
    received_before = len(comfy.double.prompts_received)
    open_chat_with(page, owui, plain_model)
    page.locator("#integration-menu-button").click()
    page.get_by_role("menuitemcheckbox", name="Image").click()
    page.keyboard.press("Escape")

    send_message(page, "Draw a paper boat on a pond")

    shown = page.locator(SHOWN_IMAGE).first
    shown.wait_for(timeout=60_000)
    assert shown.evaluate("img => img.complete && img.naturalWidth") == 512
    job = http.get(f"{API}/jobs", headers=user.headers).json()["items"][0]
    assert job["state"] == "completed" and job["workflow"] == image_engine["generation_workflow"]
    assert job["params"]["prompt"] == "a paper boat on a pond"
    [output] = job["links"]["outputs"]
    made = http.get(output, headers=user.headers).content
    on_screen = http.get(str(shown.get_attribute("src")), headers=user.headers).content
    assert on_screen == made  # the very image our workflow made
    assert len(comfy.double.prompts_received) == received_before + 1
