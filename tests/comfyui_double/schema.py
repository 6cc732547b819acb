"""Node schemas: a recorded server's /object_info with this double's files filled in."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

# (class_type, input) -> model folder whose files are that combo's options
MODEL_INPUTS = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("CheckpointLoader", "ckpt_name"): "checkpoints",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("VAELoader", "vae_name"): "vae",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
}
INPUT_FILE_INPUTS = {("LoadImage", "image")}


@cache
def _recorded_object_info(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def build_object_info(
    recorded: Path, models: dict[str, list[str]], input_files: list[str]
) -> dict[str, Any]:
    """A recorded /object_info with model and input-file combos listing what this double has."""
    info = copy.deepcopy(_recorded_object_info(recorded))
    for (class_type, input_name), folder in MODEL_INPUTS.items():
        if class_type in info:
            _set_options(info[class_type], input_name, list(models.get(folder, [])))
    for class_type, input_name in INPUT_FILE_INPUTS:
        _set_options(info[class_type], input_name, input_files)
    return info


def _set_options(node: dict[str, Any], input_name: str, files: list[str]) -> None:
    spec = node["input"]["required"][input_name]
    if spec[0] == "COMBO":
        spec[1]["options"] = files
    else:
        # the real VAELoader lists non-file choices like "pixel_space" after the files
        extras = [name for name in spec[0] if input_name == "vae_name" and name not in files]
        spec[0] = files + extras


def input_spec(node: dict[str, Any], input_name: str) -> tuple[Any, str, dict[str, Any]] | None:
    """(type, "required"|"optional", options) of an input; None when there is no such input."""
    for category in ("required", "optional"):
        spec = node["input"].get(category, {}).get(input_name)
        if spec is not None:
            options = spec[1] if len(spec) > 1 else {}
            return spec[0], category, options
    return None


def input_names(node: dict[str, Any]) -> list[str]:
    order = node.get("input_order", {})
    names = list(order.get("required", node["input"].get("required", {})))
    return names + list(order.get("optional", node["input"].get("optional", {})))
