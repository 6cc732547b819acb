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
INPUT_FILE_INPUTS = {("LoadImage", "image"), ("LoadImageMask", "image")}


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


def finalized_inputs(node: dict[str, Any], live: dict[str, Any]) -> dict[str, InputInfo]:
    """name -> (type, "required"|"optional", options) of the inputs the server checks for a
    prompt's ``live`` inputs: dynamic inputs (autogrow, dynamic combo and slot) are replaced by
    the dotted inputs they stand for, as the real server's get_finalized_class_inputs does."""
    order = node.get("input_order", {})
    sections = {
        category: {
            name: node["input"].get(category, {})[name]
            for name in order.get(category, node["input"].get(category, {}))
        }
        for category in ("required", "optional")
    }
    finalized: dict[str, InputInfo] = {}
    _parse(finalized, live, sections, [])
    return finalized


InputInfo = tuple[Any, str, dict[str, Any]]


def _parse(
    out: dict[str, InputInfo], live: dict[str, Any], sections: dict[str, Any], prefix: list[str]
) -> None:
    for category, inputs in sections.items():
        for name, spec in (inputs or {}).items():
            path = [*prefix, name]
            options = spec[1] if len(spec) > 1 else {}
            dotted = ".".join(path)
            if spec[0] == "COMFY_AUTOGROW_V3":
                _grow(out, options["template"], path)
            elif spec[0] == "COMFY_DYNAMICCOMBO_V3" and dotted in live:
                chosen = [o for o in options["options"] if o["key"] == live[dotted]]
                if chosen:
                    _parse(out, live, chosen[0]["inputs"], path)
                    out[dotted] = (spec[0], category, options)
            elif spec[0] == "COMFY_DYNAMICSLOT_V3" and dotted in live:
                _parse(out, live, options["inputs"], path)
                out[dotted] = (spec[0], category, options)
            elif spec[0] not in ("COMFY_DYNAMICCOMBO_V3", "COMFY_DYNAMICSLOT_V3"):
                out[dotted] = (spec[0], category, options)


def _grow(out: dict[str, InputInfo], template: dict[str, Any], path: list[str]) -> None:
    if "names" in template:
        names = template["names"]
    else:
        names = [f"{template['prefix']}{i}" for i in range(template["max"])]
    category, inputs = next((c, i) for c, i in template["input"].items() if i)
    spec = next(iter(inputs.values()))
    for index, name in enumerate(names):
        required = category == "required" and index < template["min"]
        out[".".join([*path, name])] = (
            spec[0],
            "required" if required else "optional",
            spec[1] if len(spec) > 1 else {},
        )
