"""The ``real_comfyui`` marker's rules and the session's real ComfyUI server.

- No kit (a checkout without ``../shared``): every ``real_comfyui`` test is skipped,
  saying where the kit was looked for.
- A kit: it is installed before the tests run, when such tests are selected and it is
  not installed yet (once; cached in ``.comfyui-real/``); one server serves the whole
  session (started by the first test that asks for it); and a ``real_comfyui`` test that
  skips counts as a failure — a skipped real test proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from comfyui_real.kit import build, default_environment, kit_folder, kit_present
from comfyui_real.server import RealComfyUI

MARKER = "real_comfyui"
INSTALL_FAILURE = pytest.StashKey[str]()


def _marked(item: pytest.Item) -> bool:
    return item.get_closest_marker(MARKER) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skips the marked tests without a kit; with one, installs it if it is not yet (before
    any test runs: minutes, outside every test's timeout)."""
    marked = [item for item in items if _marked(item)]
    if not marked:
        return
    kit = kit_folder()
    if not kit_present(kit):
        skip = pytest.mark.skip(
            reason=f"no real ComfyUI kit at {kit} (set COMFYUI_REAL_KIT to use one elsewhere)"
        )
        for item in marked:
            item.add_marker(skip)
        return
    env = default_environment()
    if env.is_built_from(kit):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"Installing the real ComfyUI kit into {env.root} (once)…")
    try:
        build(kit, env)
    except Exception as error:  # each real test fails with it; the others still run
        config.stash[INSTALL_FAILURE] = f"{type(error).__name__}: {error}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and _marked(item) and not hasattr(report, "wasxfail") and kit_present():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"A real_comfyui test was skipped although the kit is at {kit_folder()}; "
            f"a skipped real test proves nothing. The skip said: {reason}"
        )


@pytest.fixture(scope="session")
def real_comfyui(pytestconfig: pytest.Config) -> Iterator[RealComfyUI]:
    """The session's real ComfyUI (started on first use, stopped at the session's end)."""
    kit = kit_folder()
    if not kit_present(kit):
        pytest.skip(f"no real ComfyUI kit at {kit}")
    if INSTALL_FAILURE in pytestconfig.stash:
        pytest.fail(
            f"Installing the real ComfyUI kit failed: {pytestconfig.stash[INSTALL_FAILURE]}"
        )
    env = default_environment()
    if not env.is_built_from(kit):
        pytest.fail(
            f"The real ComfyUI kit at {kit} is not installed in {env.root}: "
            "run PYTHONPATH=tests python -m comfyui_real (scripts/test does)."
        )
    with RealComfyUI(env) as server:
        yield server
