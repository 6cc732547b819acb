"""The short phrase a user sees for what ComfyUI is doing right now."""

from __future__ import annotations

from .graph import Graph, class_type, node_title

WAITING = "Waiting for ComfyUI"
STARTING = "Starting"
DONE = "Done"
FAILED = "Failed"
CANCELLED = "Cancelled"

_SAVING_TYPES = ("Save", "Preview", "VHS_VideoCombine")


def queued(position: int, total: int | None) -> str:
    return f"Queued (#{position} of {total})" if total else f"Queued (#{position})"


def sampling(step: int, steps: int) -> str:
    return f"Sampling {step}/{steps}"


def node_activity(graph: Graph, node_id: str) -> str:
    """The phase for a non-sampler node, from its class type."""
    kind = class_type(graph, node_id)
    if "Loader" in kind:
        return "Loading model"
    if kind.startswith("VAEDecode"):
        return "Decoding"
    if kind.startswith("VAEEncode"):
        return "Encoding image"
    if kind.startswith(_SAVING_TYPES):
        return "Saving"
    if "upscale" in kind.lower():
        return "Upscaling"
    return f"Running {node_title(graph, node_id)}"
