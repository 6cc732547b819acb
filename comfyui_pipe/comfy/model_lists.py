"""Model file lists read from loader-node schemas, for servers without ``/models``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# model folder -> (loader node class, combo input that lists the folder's files)
LOADER_INPUTS: dict[str, tuple[str, str]] = {
    "checkpoints": ("CheckpointLoaderSimple", "ckpt_name"),
    "loras": ("LoraLoader", "lora_name"),
    "vae": ("VAELoader", "vae_name"),
    "diffusion_models": ("UNETLoader", "unet_name"),
    "text_encoders": ("CLIPLoader", "clip_name"),
    "clip_vision": ("CLIPVisionLoader", "clip_name"),
    "controlnet": ("ControlNetLoader", "control_net_name"),
    "upscale_models": ("UpscaleModelLoader", "model_name"),
}


def combo_options(input_spec: Any) -> list[Any] | None:
    """The choices of a combo input: ``[[a, b], {...}]`` or ``["COMBO", {"options": [...]}]``.

    ``None`` when the input is not a combo.
    """
    if not isinstance(input_spec, list | tuple) or not input_spec:
        return None
    head = input_spec[0]
    if isinstance(head, list | tuple):
        return list(head)
    if head == "COMBO" and len(input_spec) > 1 and isinstance(input_spec[1], Mapping):
        return list(input_spec[1].get("options") or ())
    return None


def models_from_object_info(object_info: Mapping[str, Any], folder: str) -> list[str]:
    """The files a folder's loader offers, or [] when this server has no such loader."""
    node_class, input_name = LOADER_INPUTS.get(folder, ("", ""))
    schema = object_info.get(node_class) or {}
    inputs = schema.get("input") or {}
    for section in ("required", "optional"):
        options = combo_options((inputs.get(section) or {}).get(input_name))
        if options is not None:
            return [str(option) for option in options]
    return []
