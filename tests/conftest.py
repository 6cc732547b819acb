import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from comfyui_double import ComfyDouble
from default_models import DEFAULT_MODELS
from hypothesis import HealthCheck, settings
from openwebui.harness import environment_applied, open_webui_environment, restore_environment

# Property-based tests: "ci" (scripts/test's default) runs 500 examples per property, the
# same ones every run; HYPOTHESIS_PROFILE=long runs 5,000 new ones each time.
_SLOW_MACHINES = [HealthCheck.too_slow]
settings.register_profile(
    "ci",
    max_examples=500,
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=_SLOW_MACHINES,
)
settings.register_profile(
    "long", max_examples=5_000, deadline=timedelta(seconds=5), suppress_health_check=_SLOW_MACHINES
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["pytester", "comfyui_real.pytest_plugin"]

_previous_environment: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Open WebUI reads its environment once, when first imported — possibly while test
    modules are collected, from any directory (the stack test imports the host's API
    helpers) — so it is set before any test module is imported."""
    data_dir = Path(tempfile.mkdtemp(prefix="open-webui-data-"))
    environment = open_webui_environment(data_dir)
    environment["WEBUI_SECRET_KEY"] = secrets.token_urlsafe(24)
    _previous_environment.update(environment_applied(environment))


def pytest_unconfigure(config: pytest.Config) -> None:
    data_dir = os.environ["DATA_DIR"]
    restore_environment(_previous_environment)
    shutil.rmtree(data_dir, ignore_errors=True)


# its comparisons fail with pytest's diff of what differs
pytest.register_assert_rewrite("trace_replay")


@pytest.fixture
async def comfy_double() -> AsyncIterator[ComfyDouble]:
    async with ComfyDouble(models=DEFAULT_MODELS) as double:
        yield double


@pytest.fixture
async def comfy_double_factory() -> AsyncIterator[Callable[..., Awaitable[ComfyDouble]]]:
    doubles: list[ComfyDouble] = []

    async def start(**kwargs: Any) -> ComfyDouble:
        kwargs.setdefault("models", DEFAULT_MODELS)
        double = ComfyDouble(**kwargs)
        await double.__aenter__()
        doubles.append(double)
        return double

    yield start
    for double in reversed(doubles):
        await double.__aexit__(None, None, None)
