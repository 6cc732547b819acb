"""Progress of a ComfyUI job: a pure state machine fed by comfy events."""

from .snapshot import ProgressSnapshot
from .stage import Stage
from .tracker import ProgressTracker

__all__ = ["ProgressSnapshot", "ProgressTracker", "Stage"]
