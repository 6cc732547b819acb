"""The rules of the ``real_comfyui`` marker, in pytest sessions of their own, and the real
server's handle: killed and started again on the same port."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest

from comfyui_real import RealComfyUI
from comfyui_real.kit import (
    CHECKPOINT_SCRIPT,
    ENVIRONMENT_ENV,
    KIT_ENV,
    SOURCE_TARBALL,
    TORCHVISION_WHEEL,
    kit_key,
)

PLUGIN = ("-p", "comfyui_real.pytest_plugin")
MARKER_INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
markers =
    real_comfyui: talks to a real ComfyUI
"""


@pytest.fixture
def installed_fake_kit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kit (its files, empty) and an installation that says it was built from it."""
    kit = tmp_path / "kit"
    kit.mkdir()
    for name in (SOURCE_TARBALL, TORCHVISION_WHEEL, CHECKPOINT_SCRIPT):
        (kit / name).write_bytes(b"")
    installed = tmp_path / "installed"
    installed.mkdir()
    (installed / "KEY").write_text(kit_key(kit))
    monkeypatch.setenv(KIT_ENV, str(kit))
    monkeypatch.setenv(ENVIRONMENT_ENV, str(installed))
    return kit


def test_with_the_kit_a_skipped_real_comfyui_test_is_a_failure(
    pytester: pytest.Pytester, installed_fake_kit: Path
) -> None:
    pytester.makeini(MARKER_INI)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.real_comfyui
        def test_skips_inside():
            pytest.skip("the server looked busy")

        @pytest.mark.real_comfyui
        @pytest.mark.skip(reason="marked to skip")
        def test_marked_to_skip():
            pass

        def test_an_ordinary_skip():
            pytest.skip("not a real ComfyUI test")
        """
    )

    result = pytester.runpytest(*PLUGIN)

    # a skip while setting up counts as an error of the setup
    result.assert_outcomes(failed=1, errors=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"*skipped although the kit is at {installed_fake_kit}*marked to skip*",
            f"*skipped although the kit is at {installed_fake_kit}*the server looked busy*",
        ]
    )


def test_without_the_kit_real_comfyui_tests_are_skipped_saying_where_it_was_looked_for(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KIT_ENV, str(tmp_path / "no-kit-here"))
    pytester.makeini(MARKER_INI)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.real_comfyui
        def test_needs_the_server(real_comfyui):
            raise AssertionError("must not run without the kit")
        """
    )

    result = pytester.runpytest(*PLUGIN, "-rs")

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"*no real ComfyUI kit at {tmp_path / 'no-kit-here'}*"])


@pytest.mark.real_comfyui
def test_the_real_server_can_be_killed_and_started_again_on_its_port(
    real_comfyui: RealComfyUI,
) -> None:
    port = real_comfyui.port
    real_comfyui.kill()

    assert not real_comfyui.running
    with pytest.raises(urllib.error.URLError):
        real_comfyui.get("/system_stats", timeout=5)

    real_comfyui.start()

    assert real_comfyui.port == port and real_comfyui.running
    assert real_comfyui.get("/system_stats")["system"]["comfyui_version"] == "0.33.0"
    assert real_comfyui.get("/queue") == {"queue_running": [], "queue_pending": []}
