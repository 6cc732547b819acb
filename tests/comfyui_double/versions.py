"""What differs between the recorded ComfyUI releases, as knobs the double reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACES = Path(__file__).parent.parent / "fixtures" / "traces"

_MODEL_FOLDERS_V0_8 = [
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models",
    "clip_vision", "style_models", "embeddings", "diffusers", "vae_approx", "controlnet",
    "gligen", "upscale_models", "latent_upscale_models", "custom_nodes", "hypernetworks",
    "photomaker", "classifiers", "model_patches", "audio_encoders",
]  # fmt: skip
_MODEL_FOLDERS_V0_33 = [
    *_MODEL_FOLDERS_V0_8[:16], "datasets", *_MODEL_FOLDERS_V0_8[16:],
    "background_removal", "frame_interpolation", "geometry_estimation", "optical_flow",
    "detection",
]  # fmt: skip

_DEVICE = {
    "name": "cpu",
    "type": "cpu",
    "index": None,
    "vram_total": 25276510208,
    "vram_free": 21256921088,
    "torch_vram_total": 25276510208,
    "torch_vram_free": 21256921088,
}
_PYTHON = "3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]"
_ARGV = ["main.py", "--cpu", "--listen", "127.0.0.1", "--port", "8188", "--disable-auto-launch"]


def _packages(frontend: str, templates: str) -> list[dict[str, str]]:
    versions = [
        ("comfyui-frontend-package", frontend),
        ("comfyui-workflow-templates", templates),
        ("comfyui-embedded-docs", "0.5.9"),
        ("comfy-kitchen", "0.2.31"),
        ("comfy-aimdo", "0.4.13"),
    ]
    return [{"name": name, "installed": v, "required": v} for name, v in versions]


@dataclass(frozen=True)
class ServerVersion:
    """One recorded release. Anything not listed here behaves the same in both."""

    name: str
    object_info_path: Path
    system: dict[str, Any]
    features: dict[str, Any]
    model_folders: list[str]
    missing_node_type_error: bool
    """True: an unknown class_type is ``missing_node_type``; False: ``invalid_prompt``."""
    strict_prompt_id: bool
    """A client-supplied prompt_id must be a canonical lowercase UUID."""
    jobs_cancel: bool
    """``POST /api/jobs/{id}/cancel`` and ``POST /api/jobs/cancel`` exist."""
    cancelled_status: bool
    """An interrupted job is ``cancelled`` in the jobs API (else ``failed``)."""
    previewable_outputs_count: bool
    assets_routes: bool
    """``/api/assets`` answers 503 SERVICE_DISABLED (the assets system is off by default)."""
    job_statuses: tuple[str, ...] = field(default=("pending", "in_progress", "completed", "failed"))


V0_8 = ServerVersion(
    name="0.8",
    object_info_path=TRACES / "object_info.json",
    system={
        "os": "linux",
        "ram_total": 25276510208,
        "ram_free": 21256921088,
        "comfyui_version": "0.8.0",
        "required_frontend_version": "1.35.9",
        "installed_templates_version": "0.7.67",
        "required_templates_version": "0.7.67",
        "python_version": _PYTHON,
        "pytorch_version": "2.13.0+cpu",
        "embedded_python": False,
        "argv": [*_ARGV, "--disable-api-nodes", "--preview-method", "auto"],
    },
    features={
        "supports_preview_metadata": True,
        "max_upload_size": 104857600,
        "extension": {"manager": {"supports_v4": True}},
    },
    model_folders=_MODEL_FOLDERS_V0_8,
    missing_node_type_error=False,
    strict_prompt_id=False,
    jobs_cancel=False,
    cancelled_status=False,
    previewable_outputs_count=False,
    assets_routes=False,
)

V0_33 = ServerVersion(
    name="0.33",
    object_info_path=TRACES / "v0_33" / "object_info.json",
    system={
        "os": "linux",
        "ram_total": 25276510208,
        "ram_free": 21256921088,
        "comfyui_version": "0.33.0",
        "required_frontend_version": "1.48.7",
        "installed_templates_version": "0.11.41",
        "required_templates_version": "0.11.41",
        "comfy_package_versions": _packages("1.48.7", "0.11.41"),
        "python_version": _PYTHON,
        "pytorch_version": "2.13.0+cpu",
        "embedded_python": False,
        "deploy_environment": "local-git",
        "argv": [*_ARGV, "--preview-method", "auto", "--disable-api-nodes"],
    },
    features={
        "supports_preview_metadata": True,
        "supports_model_type_tags": True,
        "max_upload_size": 104857600,
        "extension": {"manager": {"supports_v4": True}},
        "node_replacements": True,
        "assets": False,
    },
    model_folders=_MODEL_FOLDERS_V0_33,
    missing_node_type_error=True,
    strict_prompt_id=True,
    jobs_cancel=True,
    cancelled_status=True,
    previewable_outputs_count=True,
    assets_routes=True,
    job_statuses=("pending", "in_progress", "completed", "failed", "cancelled"),
)

VERSIONS = {version.name: version for version in (V0_8, V0_33)}


def system_stats(version: ServerVersion) -> dict[str, Any]:
    return {"system": dict(version.system), "devices": [dict(_DEVICE)]}
