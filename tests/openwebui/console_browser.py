"""What the console's browser tests share: Chromium signed in through Open WebUI's own
sign-in page (no token planted), the console opened from there, axe-core's check of a
page, screenshots for the docs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from openwebui.harness import PASSWORD, Account, OpenWebUIServer
from openwebui.test_browser import CHROMIUM, CHROMIUM_ARGS

CONSOLE = "/comfyui/"
ROOT = Path(__file__).parent.parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core, installed from npm by scripts/test."""
SCREENSHOTS = ROOT / "docs" / "console"
SERIOUS = ("serious", "critical")

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (scripts/test installs it)"
)


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def signed_in(chromium: Any, owui: OpenWebUIServer, account: Account, **context: Any) -> Any:
    """A page signed in as ``account`` the way a person does it: Open WebUI's sign-in page,
    its email and password fields, its button."""
    options = {"viewport": {"width": 1280, "height": 900}, **context}
    page = chromium.new_context(**options).new_page()
    page.goto(f"{owui.url}/auth")
    page.locator("input[autocomplete=email], input[type=email]").first.fill(account.email)
    page.locator("input#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_function("() => !!localStorage.getItem('token')", timeout=30_000)
    page.wait_for_url(lambda url: "/auth" not in url, timeout=30_000)
    return page


def open_console(page: Any, owui: OpenWebUIServer, section: str = "") -> None:
    page.goto(f"{owui.url}{CONSOLE}" + (f"#/{section}" if section else ""))
    page.locator("#tabs a").first.wait_for(timeout=30_000)


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # evaluated by the browser's debugger, which the page's content policy allows
        page.evaluate(AXE.read_text("utf-8") + "\n;true")
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in found
        if v["impact"] in SERIOUS
    ]


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def dark(page: Any) -> None:
    """Open WebUI's dark theme, as its settings keep it."""
    page.evaluate(f"() => localStorage.setItem('theme', {json.dumps('dark')})")


def drop_files(page: Any, target: str, files: list[tuple[str, bytes | int]]) -> None:
    """Drag ``files`` from the desktop and drop them on ``target``: (name, its bytes), or
    (name, a size) for that many zero bytes made in the browser."""
    payload = [
        {"name": name, "size": data}
        if isinstance(data, int)
        else {"name": name, "data": list(data)}
        for name, data in files
    ]
    transfer = page.evaluate_handle(
        """files => {
            const transfer = new DataTransfer();
            for (const file of files) {
                const bytes = file.data ? new Uint8Array(file.data) : new Uint8Array(file.size);
                transfer.items.add(new File([bytes], file.name, {type: "application/json"}));
            }
            return transfer;
        }""",
        payload,
    )
    for event in ("dragover", "drop"):
        page.dispatch_event(target, event, {"dataTransfer": transfer})


def tab_to(page: Any, is_it: str, limit: int = 400) -> None:
    """Press Tab until the focused element passes ``is_it`` (a JS function of it)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => ({is_it})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached the element: {is_it}")
