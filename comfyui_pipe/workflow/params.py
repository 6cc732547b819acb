"""What a user asks for, and what comes out of applying it to a workflow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from comfyui_pipe.workflow.graph import Graph


class Lora(NamedTuple):
    name: str
    strength_model: float = 1.0
    strength_clip: float = 1.0


@dataclass(frozen=True)
class GenerationParams:
    """Values to write into a workflow; ``None`` keeps the workflow's own value.

    ``images`` are names returned by ComfyUI's upload, for the workflow's image
    inputs in order. ``skip_stages`` names optional stages (see the workflow's
    metadata) to drop, e.g. ``{"refiner"}``.
    """

    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    sampler: str | None = None
    scheduler: str | None = None
    denoise: float | None = None
    width: int | None = None
    height: int | None = None
    batch_size: int | None = None
    checkpoint: str | None = None
    loras: tuple[Lora, ...] = ()
    images: tuple[str, ...] = ()
    skip_stages: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "loras", tuple(Lora(*lora) for lora in self.loras))
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "skip_stages", frozenset(self.skip_stages))


# The GenerationParams fields that are single values written to graph inputs.
SCALAR_PARAMETERS = (
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg",
    "sampler",
    "scheduler",
    "denoise",
    "width",
    "height",
    "batch_size",
    "checkpoint",
)


@dataclass(frozen=True)
class PreparedPrompt:
    """A graph ready for ``POST /prompt``.

    ``applied`` holds the effective value of every parameter the workflow has
    (including the seed that was picked at random), ``output_nodes`` the ids of
    the nodes whose outputs are the result.
    """

    graph: Graph
    applied: Mapping[str, Any] = field(default_factory=dict)
    output_nodes: tuple[str, ...] = ()
