"""What the scheduler knows of a job before it runs: its shape.

Its workflow, its sampler steps, its size in pixels and the model files its loader
nodes read. Servers' costs are learnt per workflow and scaled by steps and size; the
model files say what a server must load first unless it holds them already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

from comfyui_pipe.progress.weights import estimated_steps
from comfyui_pipe.workflow.graph import Graph, class_of, inputs_of

REFERENCE_PIXELS = 512 * 512
"""The size a job of unknown size is taken to have."""


@dataclass(frozen=True)
class JobShape:
    workflow: str
    steps: int
    """Its sampler steps (0: no sampler)."""
    pixels: int
    """Width × height × batch of its largest image or latent."""
    models: frozenset[str] = frozenset()
    """The model files its loader nodes read."""
    loaders: tuple[tuple[str, frozenset[str]], ...] = ()
    """Each loader node with the files it reads (to time their loading)."""


def shape_of(workflow: str, prompt: Graph) -> JobShape:
    loaders = tuple(
        (node_id, names) for node_id in prompt if (names := _model_files(prompt, node_id))
    )
    models = frozenset(name for _, names in loaders for name in names)
    steps = sum(estimated_steps(prompt).values())
    return JobShape(workflow, steps, _pixels(prompt), models, loaders)


def _model_files(prompt: Graph, node_id: str) -> frozenset[str]:
    """The file names a loader node reads: its ``…_name`` / ``…_name1`` text inputs."""
    if "Loader" not in class_of(prompt, node_id):
        return frozenset()
    return frozenset(
        f"{class_of(prompt, node_id)}:{value}"
        for name, value in inputs_of(prompt, node_id).items()
        if isinstance(value, str) and "_name" in name and value
    )


def _pixels(prompt: Graph) -> int:
    sizes = []
    for node_id in prompt:
        inputs = inputs_of(prompt, node_id)
        width, height, batch = inputs.get("width"), inputs.get("height"), inputs.get("batch_size")
        if _positive_int(width) and _positive_int(height):
            sizes.append(width * height * (batch if _positive_int(batch) else 1))
    return max(sizes, default=REFERENCE_PIXELS)


def _positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
