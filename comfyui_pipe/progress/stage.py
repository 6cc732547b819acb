"""What a job is doing, as a value to compare; the words for it live in the snapshot."""

from __future__ import annotations

from enum import StrEnum

_SAVING_PREFIXES = ("Save", "Preview", "VHS_VideoCombine")


class Stage(StrEnum):
    WAITING = "waiting"
    """Not yet seen in ComfyUI's queue."""
    QUEUED = "queued"
    STARTING = "starting"
    LOADING = "loading"
    ENCODING = "encoding"
    RUNNING = "running"
    """A node with no stage of its own."""
    SAMPLING = "sampling"
    DECODING = "decoding"
    UPSCALING = "upscaling"
    SAVING = "saving"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (Stage.DONE, Stage.FAILED, Stage.CANCELLED)


def stage_of_node(class_type: str) -> Stage:
    """The stage a non-sampler node stands for, from its class type."""
    if "Loader" in class_type:
        return Stage.LOADING
    if class_type.startswith("VAEDecode"):
        return Stage.DECODING
    if class_type.startswith("VAEEncode"):
        return Stage.ENCODING
    if class_type.startswith(_SAVING_PREFIXES):
        return Stage.SAVING
    if "upscale" in class_type.lower():
        return Stage.UPSCALING
    return Stage.RUNNING
