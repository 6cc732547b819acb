from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from comfyui_double import ComfyDouble

from comfyui_pipe.workflow import bundled_workflows


def _with_bundled_models(extra: dict[str, list[str]]) -> dict[str, list[str]]:
    models: dict[str, list[str]] = {}
    needed = [(m.folder, m.filename) for w in bundled_workflows().values() for m in w.meta.models]
    for folder, name in needed + [(f, n) for f, names in extra.items() for n in names]:
        if name not in models.setdefault(folder, []):
            models[folder].append(name)
    return models


# Every model the bundled workflows need, plus a few that test graphs name.
DEFAULT_MODELS = _with_bundled_models(
    {
        "checkpoints": ["sd15.safetensors", "sdxl_base.safetensors", "sdxl_refiner.safetensors"],
        "loras": ["detail.safetensors"],
        "diffusion_models": ["flux1-schnell.safetensors"],
        "vae": ["ae.safetensors"],
        "text_encoders": ["clip_l.safetensors", "t5xxl_fp8.safetensors"],
        "upscale_models": ["4x.pth"],
    }
)


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
