"""Every page of the ComfyUI console, in Open WebUI's light and dark themes, as an admin
and as a user (with a workflow file checked, a test run open and an output opened large):
axe-core finds no serious or critical violation."""

from __future__ import annotations

import json

import httpx
import pytest

from openwebui.console_browser import (
    AXE,
    browser,
    drop_files,
    needs_chromium,
    open_console,
    serious_violations,
    signed_in,
)
from openwebui.harness import Account, OpenWebUIServer
from openwebui.test_api_jobs import finished, started
from openwebui.test_console_workflows import ui_workflow

pytestmark = needs_chromium

ADMIN_SECTIONS = ["servers", "workflows", "models", "queue", "generations", "my-queue"]
USER_SECTIONS = ["generations", "my-queue"]
SETTLE_MS = 800
"""Time for a section's first answers to be drawn."""


def test_axe_core_is_installed() -> None:
    assert AXE.is_file(), "scripts/test installs axe-core from npm (npm install axe-core)"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_no_console_page_has_a_serious_or_critical_accessibility_violation(
    owui: OpenWebUIServer, http: httpx.Client, admin: Account, user: Account, theme: str
) -> None:
    finished(http, user, started(http, user, prompt="an accessible lighthouse", steps=1)["id"])
    found: dict[str, list[object]] = {}
    with browser() as chromium:
        for account, sections in ((admin, ADMIN_SECTIONS), (user, USER_SECTIONS)):
            page = signed_in(chromium, owui, account)
            page.evaluate(f"() => localStorage.setItem('theme', {json.dumps(theme)})")
            for section in sections:
                open_console(page, owui, section)
                page.wait_for_timeout(SETTLE_MS)
                found[f"{account.role} {section}"] = serious_violations(page)
            if account is admin:
                open_console(page, owui, "workflows")
                drop_files(page, ".drop", [("checked.json", json.dumps(ui_workflow()).encode())])
                page.get_by_text("Editor (UI) format").wait_for()
                page.get_by_role("button", name="Test run").first.click()
                found["admin a checked file and a test run"] = serious_violations(page)
            else:
                open_console(page, owui, "generations")
                page.locator(".tile").first.click()
                page.get_by_role("dialog").wait_for()
                found["user an output opened large"] = serious_violations(page)
                # the check sees what it is for: a button nobody can name
                unnamed = "document.createElement('button')"
                page.evaluate(f"() => document.querySelector('dialog[open]').append({unnamed})")
                assert [v["id"] for v in serious_violations(page)] == ["button-name"]

    assert found == {key: [] for key in found}
