from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from comfyui_double import ComfyDouble
from default_models import DEFAULT_MODELS


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
