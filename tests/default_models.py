"""The models the ComfyUI doubles of the test suite have installed."""

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
