"""An admin in a real browser, signed in through Open WebUI's own sign-in page, runs the
ComfyUI console: drops an editor-format template, saves it and test-runs it with its
progress on screen (by keyboard too); downloads a missing model from a local HTTP server
(progress, checksum, a corrupted download refused) after which its workflow is available
without a restart; drains and removes a server while a job runs on it (the job ends);
cancels another user's job from the queue by keyboard. Bad input gets a sentence and
changes nothing. Screenshots of each page go to docs/console/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from deploy.model_server import ModelServer

from openwebui.console_browser import (
    browser,
    drop_files,
    needs_chromium,
    open_console,
    screenshot,
    signed_in,
    tab_to,
)
from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.test_api_jobs import API, finished, started, wait_for_job
from openwebui.test_console_models import FILE, SHA256, files, models_dir, needs_download
from openwebui.test_console_servers import second_comfy, settings_restored
from openwebui.test_console_workflows import ui_workflow, uploads_removed

__all__ = [  # fixtures
    "files",
    "models_dir",
    "needs_download",
    "second_comfy",
    "settings_restored",
    "uploads_removed",
]

pytestmark = needs_chromium


@pytest.fixture
def admin_page(owui: OpenWebUIServer, admin: Account) -> Iterator[Any]:
    with browser() as chromium:
        yield signed_in(chromium, owui, admin)


@pytest.fixture
def slow_comfy(comfy: ThreadedDouble) -> Iterator[ThreadedDouble]:
    previous = comfy.double.step_seconds
    comfy.double.step_seconds = 0.15
    yield comfy
    comfy.double.step_seconds = previous


def region(page: Any, name: str | re.Pattern[str]) -> Any:
    return page.get_by_role("region", name=name)


def progress_between(page: Any, label: str) -> float:
    """The value of the progress bar ``label`` once it is past 0 and short of 100."""
    bar = page.get_by_role("progressbar", name=label)
    page.wait_for_function(
        """label => [...document.querySelectorAll('[role=progressbar]')].some(bar =>
            bar.getAttribute('aria-label') === label &&
            +bar.getAttribute('aria-valuenow') > 0 && +bar.getAttribute('aria-valuenow') < 100)""",
        arg=label,
        timeout=30_000,
    )
    return float(bar.first.get_attribute("aria-valuenow"))


def test_an_admin_drops_a_ui_template_and_test_runs_it_with_progress(
    admin_page: Any, owui: OpenWebUIServer, slow_comfy: ThreadedDouble, uploads_removed: list[str]
) -> None:
    page = admin_page
    open_console(page, owui, "workflows")
    workflow = ui_workflow()
    latent = next(n for n in workflow["nodes"] if n["type"] == "EmptyLatentImage")
    latent["widgets_values"] = [512, 384, 1]
    template = json.dumps(workflow).encode()

    drop_files(page, ".drop", [("console portrait.json", template)])

    checked = region(page, "Checked console portrait.json")
    checked.get_by_text("Editor (UI) format, converted to an API prompt.").wait_for()
    text = checked.inner_text()
    assert "loras, negative_prompt, prompt, seed, steps, width" in text  # its parameters
    assert "Makes\nimage" in text or "Makes image" in text
    assert "server 1: has everything it needs." in checked.inner_text()
    checked.get_by_label(re.compile("Title")).fill("Console portrait")
    checked.get_by_role("button", name="Save").click()
    checked.get_by_text("Saved.").wait_for()
    uploads_removed.append("console_portrait")

    entry = region(page, re.compile("^Console portrait"))
    entry.get_by_role("button", name="Test run").click()
    run = page.get_by_role("form", name="Test run of Console portrait")
    run.get_by_label("Steps").fill("12")
    run.get_by_role("button", name="Run").click()

    seen = progress_between(page, "Progress of the test run")
    assert 0 < seen < 100
    run.locator(".activity").filter(has_text="Sampling").wait_for(timeout=30_000)
    entry.evaluate("el => el.scrollIntoView({block: 'start'})")
    screenshot(page, "workflows-test-run")
    run.get_by_text("Done: 1 output.").wait_for(timeout=30_000)
    made = run.locator("img.preview[alt='a lighthouse on a cliff at dusk']")
    made.wait_for(timeout=30_000)
    assert made.evaluate("img => img.complete && img.naturalWidth") == 512


def chooser_by_keyboard(page: Any, is_it: str, tries: int = 3) -> Any:
    """The file chooser that Enter opens on the element ``is_it`` picks, reached by Tab.
    Tried again from the start when none opens: under load a late render of the page has
    been seen to take the focus between the Tab and the Enter. A chooser that opens late
    still counts (a listener on the page takes every chooser from the first Enter on:
    Chromium opens no second one while the first is pending)."""
    choosers: list[Any] = []

    def opened(chooser: Any) -> None:
        choosers.append(chooser)

    page.on("filechooser", opened)
    try:
        for _ in range(tries):
            tab_to(page, is_it)
            page.keyboard.press("Enter")
            for _ in range(100):  # 10 s
                if choosers:
                    return choosers[0]
                page.wait_for_timeout(100)
    finally:
        page.remove_listener("filechooser", opened)
    raise AssertionError(f"Enter never opened a file chooser on {is_it}")


def test_upload_and_a_test_run_work_from_the_keyboard_alone(
    admin_page: Any,
    owui: OpenWebUIServer,
    comfy: ThreadedDouble,
    uploads_removed: list[str],
    tmp_path: Path,
) -> None:
    page = admin_page
    open_console(page, owui, "workflows")
    saved = tmp_path / "keyboard_flow.json"
    saved.write_text(json.dumps(ui_workflow()))
    # the list is in (nothing renders again under the keyboard's focus)
    page.locator("section").first.wait_for(timeout=30_000)

    chooser = chooser_by_keyboard(page, "el => el.id === 'workflow-files'")
    chooser.set_files(str(saved))
    region(page, "Checked keyboard_flow.json").get_by_text("Editor (UI) format").wait_for()
    in_card = "el.closest('[aria-label=\"Checked keyboard_flow.json\"]')"
    tab_to(page, f"el => el.textContent === 'Save' && {in_card}")
    page.keyboard.press("Enter")
    page.get_by_text("Saved.").wait_for()
    uploads_removed.append("keyboard_flow")
    region(page, re.compile("^keyboard_flow")).wait_for()

    in_entry = "el.closest('section').textContent.startsWith('keyboard_flow')"
    tab_to(page, f"el => el.textContent === 'Test run' && {in_entry}")
    page.keyboard.press("Enter")
    tab_to(page, "el => el.textContent === 'Run'")
    page.keyboard.press("Enter")
    page.get_by_role("form", name="Test run of keyboard_flow").get_by_text(
        "Done: 1 output."
    ).wait_for(timeout=30_000)


def test_an_admin_downloads_a_missing_model_and_its_workflow_is_available_without_a_restart(
    admin_page: Any,
    owui: OpenWebUIServer,
    models_dir: Path,
    files: ModelServer,
    needs_download: dict[str, Any],
) -> None:
    page = admin_page
    files.chunk_delay = 0.15
    open_console(page, owui, "workflows")
    region(page, re.compile("^Needs a download")).get_by_text("Missing something").wait_for()

    open_console(page, owui, "models")
    page.get_by_role("button", name="Download console_fetch.safetensors to server 1").click()

    label = "Download of checkpoints/console_fetch.safetensors on server 1"
    assert 0 < progress_between(page, label) < 100
    page.evaluate("() => scrollTo(0, 0)")
    screenshot(page, "models-download")
    page.locator("[data-download]").filter(has_text="console_fetch").get_by_text(
        "Done, checked"
    ).wait_for(timeout=30_000)
    stored = models_dir / "checkpoints" / "console_fetch.safetensors"
    assert stored.read_bytes() == FILE

    form = page.get_by_role("form", name="Download a model onto server 1")
    form.get_by_label("Direct download address").fill(files.url("/corrupt.safetensors"))
    form.get_by_label("File name").fill("corrupt.safetensors")
    form.get_by_label("sha256").fill(SHA256)
    form.get_by_role("button", name="Download").click()
    failed = page.locator("[data-download]").filter(has_text="corrupt.safetensors")
    failed.get_by_text("Failed").wait_for(timeout=30_000)
    assert "wrong sha256 checksum" in failed.inner_text()
    assert not (models_dir / "checkpoints" / "corrupt.safetensors").exists()

    open_console(page, owui, "workflows")
    region(page, re.compile("^Needs a download")).get_by_text("Available", exact=True).wait_for()


@pytest.mark.parametrize(
    ("fill", "says"),
    [
        (
            {"url": "ftp://example.com/x.safetensors", "name": "x.safetensors"},
            "http:// or https://",
        ),
        ({"url": "/good.safetensors", "name": "../escape.safetensors"}, "leaves its folder"),
        ({"url": "/good.safetensors", "name": "/etc/absolute.safetensors"}, "absolute path"),
        ({"url": "/huge.safetensors", "name": "huge.safetensors"}, "free"),
    ],
)
def test_a_model_download_the_page_cannot_make_is_a_sentence_and_writes_nothing(
    admin_page: Any,
    owui: OpenWebUIServer,
    models_dir: Path,
    files: ModelServer,
    fill: dict[str, str],
    says: str,
) -> None:
    page = admin_page
    files.files["/huge.safetensors"] = b"small"
    files.announced["/huge.safetensors"] = 10**18
    open_console(page, owui, "models")
    form = page.get_by_role("form", name="Download a model onto server 1")
    url = fill["url"] if "://" in fill["url"] else files.url(fill["url"])

    form.get_by_label("Direct download address").fill(url)
    form.get_by_label("File name").fill(fill["name"])
    form.get_by_role("button", name="Download").click()

    form.locator(".sentence").filter(has_text=says).wait_for()
    assert list(models_dir.rglob("*.safetensors*")) == []
    assert (
        page.locator("[data-download]").count() == 0
        or says not in page.locator("[data-download]").all_inner_texts()
    )


def test_a_non_json_or_too_large_workflow_file_is_a_sentence_and_changes_nothing(
    admin_page: Any, owui: OpenWebUIServer, http: httpx.Client, admin: Account
) -> None:
    page = admin_page
    before = http.get(f"{API}/workflows/all", headers=admin.headers).json()
    open_console(page, owui, "workflows")

    drop_files(page, ".drop", [("notes.json", b"this is not JSON"), ("huge.json", 50 * 2**20)])

    notes = region(page, "Checked notes.json")
    notes.get_by_text("notes.json is not a JSON workflow").wait_for()
    huge = region(page, "Checked huge.json")
    huge.get_by_text("a workflow file may have at most 8 MiB").wait_for()
    for card in (notes, huge):
        assert "Nothing was saved." in card.inner_text()
        assert card.get_by_role("button", name="Save").count() == 0
    assert http.get(f"{API}/workflows/all", headers=admin.headers).json() == before


def test_an_admin_drains_and_removes_a_server_while_a_job_runs_on_it_and_the_job_finishes(
    admin_page: Any,
    owui: OpenWebUIServer,
    http: httpx.Client,
    user: Account,
    comfy: ThreadedDouble,
    second_comfy: ThreadedDouble,
    settings_restored: dict[str, Any],
) -> None:
    page = admin_page
    open_console(page, owui, "servers")
    page.get_by_label("Add a ComfyUI server").fill(second_comfy.url)
    page.get_by_role("button", name="Add").click()
    second = region(page, re.compile("^server 2"))
    second.wait_for()
    first = region(page, re.compile("^server 1"))
    first.get_by_role("button", name="Drain").click()
    first.get_by_text("Drained").wait_for()

    job = started(http, user, prompt="on the second server", steps=14)
    wait_for_job(http, user, job["id"], lambda job: job["state"] == "running")
    second.get_by_text("sd15_txt2img for Uma User").wait_for(timeout=10_000)
    screenshot(page, "servers")

    first.get_by_role("button", name="Take jobs again").click()
    first.get_by_text("Taking jobs").wait_for()
    second.get_by_role("button", name="Drain").click()
    second.get_by_text("Drained").wait_for()
    second.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    second.wait_for(state="detached")

    done = finished(http, user, job["id"])
    assert done["state"] == "completed" and done["output_file_ids"]
    assert len(second_comfy.double.prompts_received) == 1
    assert [
        s["url"] for s in http.get(f"{API}/servers", headers=http_admin(page)).json()["servers"]
    ] == [comfy.url]


def http_admin(page: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {page.evaluate('() => localStorage.token')}"}


def test_an_admin_cancels_another_users_job_from_the_queue_by_keyboard(
    admin_page: Any,
    owui: OpenWebUIServer,
    http: httpx.Client,
    user: Account,
    slow_comfy: ThreadedDouble,
) -> None:
    page = admin_page
    job = started(http, user, prompt="a very long night", steps=60)
    open_console(page, owui, "queue")
    row = page.locator(f"tr[data-job='{job['id']}']")
    row.get_by_text("Uma User").wait_for()

    in_row = f"el.closest(\"tr[data-job='{job['id']}']\")"
    tab_to(page, f"el => el.tagName === 'BUTTON' && {in_row}")
    page.keyboard.press("Enter")

    assert finished(http, user, job["id"])["state"] == "cancelled"
    row.wait_for(state="detached", timeout=10_000)
    assert http.get(f"{API}/jobs/{job['id']}", headers=user.headers).json()["state"] == "cancelled"
