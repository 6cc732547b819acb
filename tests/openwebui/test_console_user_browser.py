"""A user in a real browser, signed in through Open WebUI's own sign-in page: what they
make in a chat is in "My generations" within a second of finishing; they open its chat
from there, and delete it (it leaves their files, and the chat says so); they see none of
another user's items and no admin section (whose routes answer 403); with 5,000 outputs
the first screen shows in under a second and scrolling loads the next pages; thumbnails
are served for browsers to keep. The page fits a phone."""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import insert

from comfyui_pipe.openwebui.gallery.table import output_table, thumbnail_table
from comfyui_pipe.openwebui.runtime import get_runtime
from openwebui.console_browser import browser, needs_chromium, open_console, screenshot, signed_in
from openwebui.harness import PASSWORD, Account, OpenWebUIServer, add_user
from openwebui.test_api_jobs import API, finished, started
from openwebui.test_browser import open_chat_with, send_message

pytestmark = needs_chromium

MANY = 5_000
FIRST_SCREEN_MS = 1_000
ADMIN_ROUTES = [
    "/servers",
    "/workflows/all",
    "/models/servers",
    "/models/downloads",
    "/queue?all=true",
]
RECORD_TILES = """() => {
    window.seenAt = {};
    new MutationObserver(() => {
        for (const tile of document.querySelectorAll('.tile[data-id]')) {
            window.seenAt[tile.dataset.id] ??= Date.now();
        }
    }).observe(document.body, {childList: true, subtree: true});
}"""


@pytest.fixture
def user_browser() -> Iterator[Any]:
    with browser() as chromium:
        yield chromium


def test_a_chat_generation_is_in_my_generations_within_a_second_and_deleting_it_tells_the_chat(
    user_browser: Any, owui: OpenWebUIServer, http: httpx.Client, user: Account
) -> None:
    chat = signed_in(user_browser, owui, user)
    gallery = chat.context.new_page()
    open_console(gallery, owui, "generations")
    gallery.evaluate(RECORD_TILES)

    open_chat_with(chat, owui, "comfyui.sd15_txt2img")
    send_message(chat, "a paper lantern in the fog --steps 3 --seed 4242")
    chat.get_by_text("Done in").first.wait_for(timeout=60_000)
    job = next(
        j
        for j in http.get(f"{API}/jobs", headers=user.headers).json()["items"]
        if j["params"].get("seed") == 4242
    )
    [file_id] = job["output_file_ids"]
    tile = gallery.locator(f".tile[data-id='{file_id}']")
    tile.wait_for(timeout=5_000)
    seen_at = gallery.evaluate(f"() => window.seenAt['{file_id}']") / 1000
    finished_at = _seconds(job["finished_at"])
    assert seen_at - finished_at < 1.0, f"shown {seen_at - finished_at:.2f} s after it finished"

    tile.click()
    dialog = gallery.get_by_role("dialog")
    assert "a paper lantern in the fog" in dialog.inner_text()
    dialog.get_by_role("link", name="Open its chat").click()
    gallery.wait_for_url(f"**/c/{job['chat_id']}")
    gallery.locator(f"img[src*='{file_id}']").first.wait_for(timeout=30_000)

    open_console(gallery, owui, f"generations/{file_id}")
    dialog = gallery.get_by_role("dialog")
    dialog.get_by_role("button", name="Delete").click()
    question = gallery.get_by_role("dialog", name=re.compile("^Delete .* It leaves your files"))
    question.get_by_role("button", name="Delete").click()
    gallery.locator(f".tile[data-id='{file_id}']").wait_for(state="detached")

    assert http.get(f"/api/v1/files/{file_id}", headers=user.headers).status_code == 404
    chat.reload()
    chat.get_by_text("was deleted in the ComfyUI console").first.wait_for(timeout=30_000)
    assert chat.locator(f"img[src*='{file_id}']").count() == 0


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_a_user_sees_no_admin_section_and_no_one_elses_generation(
    user_browser: Any, owui: OpenWebUIServer, http: httpx.Client, user: Account, other_user: Account
) -> None:
    theirs = finished(
        http, other_user, started(http, other_user, prompt="not yours", steps=1)["id"]
    )
    mine = finished(http, user, started(http, user, prompt="mine", steps=1)["id"])
    page = signed_in(user_browser, owui, user, viewport={"width": 390, "height": 844})

    open_console(page, owui, "servers")

    assert page.locator("#tabs a").all_inner_texts() == ["My generations", "My queue"]
    assert page.get_by_role("heading", level=1).inner_text() == "My generations"
    page.locator(f".tile[data-id='{mine['output_file_ids'][0]}']").wait_for()
    assert page.locator(f".tile[data-id='{theirs['output_file_ids'][0]}']").count() == 0
    statuses = page.evaluate(
        """async routes => Promise.all(routes.map(async route => (await fetch(
            '/api/v1/comfyui' + route,
            {headers: {Authorization: 'Bearer ' + localStorage.token}})).status))""",
        ADMIN_ROUTES,
    )
    assert statuses == [403] * len(ADMIN_ROUTES)
    for section in ("generations", "my-queue"):
        open_console(page, owui, section)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"{section} is wider than a phone by {overflow} px"


def test_five_thousand_generations_first_screen_under_a_second_then_pages_as_it_scrolls(
    user_browser: Any, owui: OpenWebUIServer, http: httpx.Client, admin: Account
) -> None:
    account = add_user(http, admin, "Gala Gallery", f"gallery-{uuid.uuid4().hex[:8]}@example.com")
    owui.run(_seed_outputs(owui, account.id, MANY), timeout=120)
    page = signed_in(user_browser, owui, account)
    pages: list[str] = []
    thumbnails: list[str] = []

    def heard(response: Any) -> None:
        if "/comfyui/generations?" in response.url:
            pages.append(response.url)
        elif response.url.endswith("/thumbnail"):
            thumbnails.append(response.headers.get("cache-control", ""))

    page.on("response", heard)
    # three loads, each timed from a blank page (not Open WebUI's page unloading); their
    # median, so that one pause of this shared machine does not decide
    loads = sorted(_first_screen(page, owui) for _ in range(3))

    print(f"My generations with {MANY} outputs: first screen after {loads} ms")
    assert loads[1] < FIRST_SCREEN_MS, f"first screen after {loads} ms"
    assert thumbnails and all("immutable" in h and "max-age" in h for h in thumbnails)
    screenshot(page, "generations")
    for _ in range(3):
        before = page.locator(".tile").count()
        page.mouse.wheel(0, 100_000)
        page.wait_for_function(f"() => document.querySelectorAll('.tile').length > {before}")
    assert page.locator(".tile").count() >= 4 * 60
    assert sum("after=" in url for url in pages) >= 3
    ids = page.eval_on_selector_all(".tile", "tiles => tiles.map(t => t.dataset.id)")
    assert len(ids) == len(set(ids))


def _first_screen(page: Any, owui: OpenWebUIServer) -> float:
    """Milliseconds from a blank page to the first screen of tiles, every image shown."""
    page.goto("about:blank")
    page.goto(f"{owui.url}/comfyui/#/generations")
    shown: float = page.wait_for_function(
        """() => {
            const shown = [...document.querySelectorAll('.tile img')].filter(img =>
                img.getBoundingClientRect().top < innerHeight);
            return shown.length >= 12 && shown.every(img => img.complete && img.naturalWidth)
                && performance.now();
        }""",
        timeout=30_000,
    ).json_value()
    return shown


async def _seed_outputs(owui: OpenWebUIServer, owner_id: str, count: int) -> None:
    """``count`` outputs of ``owner_id``, as if stored over the past days (one insert)."""
    runtime = await get_runtime(owui.app)
    shades = [_thumbnail(index) for index in range(12)]
    now = time.time()
    rows, thumbs = [], []
    for index in range(count):
        file_id = f"seed-{owner_id[:8]}-{index:05d}"
        rows.append(
            {
                "file_id": file_id,
                "owner_id": owner_id,
                "job_id": f"job-{index}",
                "workflow_id": "sd15_txt2img",
                "kind": "image",
                "content_type": "image/png",
                "name": f"ComfyUI_{index:05d}_.png",
                "size": 400_000,
                "prompt": f"study number {index} of light on water",
                "created_at": now - index * 60,
                "chat_id": None,
                "message_id": None,
                "width": 512,
                "height": 512,
                "excerpt": None,
                "has_thumbnail": 1,
            }
        )
        thumbs.append({"file_id": file_id, "data": shades[index % len(shades)]})
    async with runtime.host.engine.begin() as connection:
        await connection.execute(insert(output_table), rows)
        await connection.execute(insert(thumbnail_table), thumbs)


def _thumbnail(index: int) -> bytes:
    """A small gradient in one of twelve hues, as a stored thumbnail is (WebP)."""
    image = Image.new("HSV", (320, 320))
    image.putdata(
        [
            ((index * 21 + y // 16) % 256, 140 + x // 6, 120 + y // 4)
            for y in range(320)
            for x in range(320)
        ]
    )
    out = io.BytesIO()
    image.convert("RGB").save(out, "WEBP", quality=70)
    return out.getvalue()


def test_signed_out_the_console_sends_you_to_open_webuis_sign_in_and_back(
    user_browser: Any, owui: OpenWebUIServer, user: Account
) -> None:
    page = user_browser.new_page()
    page.goto(f"{owui.url}/comfyui/")
    page.get_by_text("Sign in to Open WebUI first").wait_for(timeout=30_000)

    page.get_by_role("link", name="Sign in").click()
    page.locator("input#password").wait_for(timeout=30_000)
    page.locator("input[autocomplete=email], input[type=email]").first.fill(user.email)
    page.locator("input#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{owui.url}/comfyui/", timeout=30_000)
    page.get_by_role("heading", name="My generations").wait_for(timeout=30_000)
    assert page.locator("#who").inner_text() == "Uma User"
