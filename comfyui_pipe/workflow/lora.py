"""Insert a chain of LoRA loaders right after a model loader."""

from __future__ import annotations

from collections.abc import Sequence

from comfyui_pipe.workflow.graph import Graph, class_of, fresh_ids, replace_links
from comfyui_pipe.workflow.params import Lora

# Loaders whose output 1 is CLIP; the others (UNETLoader, ...) give only MODEL.
_CHECKPOINT_LOADERS = frozenset(
    {"CheckpointLoaderSimple", "CheckpointLoader", "unCLIPCheckpointLoader"}
)


def insert_lora_chain(graph: Graph, loader: str, loras: Sequence[Lora]) -> list[str]:
    """Chain ``loras`` between ``loader`` and everything that used its MODEL (and CLIP).

    Checkpoint loaders get ``LoraLoader`` nodes (MODEL and CLIP); diffusion-model
    loaders such as ``UNETLoader`` (Flux) get ``LoraLoaderModelOnly``. Mutates
    ``graph``; returns the new node ids in chain order.
    """
    with_clip = class_of(graph, loader) in _CHECKPOINT_LOADERS
    new_ids = fresh_ids(graph, len(loras))
    model, clip = [loader, 0], [loader, 1]
    for node_id, lora in zip(new_ids, loras, strict=True):
        inputs: dict[str, object] = {
            "model": model,
            "lora_name": lora.name,
            "strength_model": lora.strength_model,
        }
        if with_clip:
            inputs |= {"clip": clip, "strength_clip": lora.strength_clip}
        graph[node_id] = {
            "class_type": "LoraLoader" if with_clip else "LoraLoaderModelOnly",
            "inputs": inputs,
            "_meta": {"title": f"LoRA {lora.name}"},
        }
        model, clip = [node_id, 0], [node_id, 1]
    if new_ids:
        replace_links(graph, (loader, 0), model, skip=set(new_ids))
        if with_clip:
            replace_links(graph, (loader, 1), clip, skip=set(new_ids))
    return new_ids
