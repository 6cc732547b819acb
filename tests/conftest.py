from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from comfyui_double import ComfyDouble

DEFAULT_MODELS = {
    "checkpoints": ["sd15.safetensors", "sdxl_base.safetensors", "sdxl_refiner.safetensors"],
    "loras": ["detail.safetensors"],
    "diffusion_models": ["flux1-schnell.safetensors"],
    "vae": ["ae.safetensors"],
    "text_encoders": ["clip_l.safetensors", "t5xxl_fp8.safetensors"],
    "upscale_models": ["4x.pth"],
}


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
