"""Explicit parameter mappings that override detection, parameter by parameter.

Two shapes are read:

* ours, in a workflow's metadata: ``{"seed": [{"node": "3", "input": "seed"}], ...}``;
* Open WebUI's ``COMFYUI_WORKFLOW_NODES``: ``[{"type": "seed", "key": "seed",
  "node_ids": ["3"]}, ...]``, where an entry without ``type`` writes its fixed
  ``value`` to ``key`` of every listed node, and an empty ``node_ids`` maps nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from comfyui_pipe.workflow.graph import Target

# Open WebUI node type -> (our parameter name, default input when "key" is empty).
_OPENWEBUI_TYPES: dict[str, tuple[str, str]] = {
    "model": ("checkpoint", "ckpt_name"),
    "prompt": ("prompt", "text"),
    "negative_prompt": ("negative_prompt", "text"),
    "image": ("images", "image"),
    "width": ("width", "width"),
    "height": ("height", "height"),
    "n": ("batch_size", "batch_size"),
    "steps": ("steps", "steps"),
    "seed": ("seed", "seed"),
}


@dataclass(frozen=True)
class ExplicitMapping:
    """Targets per parameter, plus fixed values to write regardless of the request."""

    targets: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)
    fixed: tuple[tuple[Target, Any], ...] = ()


def parse_mapping(value: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> ExplicitMapping:
    """Read either mapping shape; ``None`` or empty gives an empty mapping."""
    if not value:
        return ExplicitMapping()
    if isinstance(value, Mapping):
        return _from_ours(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return from_openwebui_nodes(value)
    raise ValueError("A parameter mapping must be an object or a list of Open WebUI node entries.")


def _from_ours(value: Mapping[str, Any]) -> ExplicitMapping:
    targets: dict[str, tuple[Target, ...]] = {}
    for parameter, entries in value.items():
        if not isinstance(entries, list):
            raise ValueError(f"The mapping for '{parameter}' must be a list of {{node, input}}.")
        found = []
        for entry in entries:
            if not isinstance(entry, Mapping) or "node" not in entry or "input" not in entry:
                raise ValueError(
                    f"Each mapping entry for '{parameter}' needs a 'node' and an 'input'."
                )
            found.append(Target(str(entry["node"]), str(entry["input"])))
        if found:
            targets[parameter] = tuple(found)
    return ExplicitMapping(targets)


def from_openwebui_nodes(nodes: Sequence[Mapping[str, Any]]) -> ExplicitMapping:
    """Read Open WebUI's ``COMFYUI_WORKFLOW_NODES`` list."""
    targets: dict[str, list[Target]] = {}
    fixed: list[tuple[Target, Any]] = []
    for entry in nodes:
        node_ids, kind, key = _openwebui_entry(entry)
        if not kind:
            if key:
                fixed.extend((Target(node_id, key), entry.get("value")) for node_id in node_ids)
            continue
        if kind not in _OPENWEBUI_TYPES:
            raise ValueError(f"Unknown Open WebUI workflow node type '{kind}'.")
        parameter, default_key = _OPENWEBUI_TYPES[kind]
        targets.setdefault(parameter, []).extend(
            Target(node_id, key or default_key) for node_id in node_ids
        )
    return ExplicitMapping(
        {name: tuple(found) for name, found in targets.items() if found}, tuple(fixed)
    )


def _openwebui_entry(entry: Any) -> tuple[list[str], str | None, str | None]:
    """An Open WebUI node entry's node ids, type and key, each checked."""
    if not isinstance(entry, Mapping):
        raise ValueError("Each Open WebUI mapping entry must be an object.")
    node_ids, kind, key = entry.get("node_ids") or [], entry.get("type"), entry.get("key")
    if not isinstance(node_ids, list) or not all(_is_node_id(node_id) for node_id in node_ids):
        raise ValueError("The node_ids of an Open WebUI mapping entry must be a list of node ids.")
    if not all(value is None or isinstance(value, str) for value in (kind, key)):
        raise ValueError("The type and key of an Open WebUI mapping entry must be text.")
    return [str(node_id) for node_id in node_ids if str(node_id)], kind, key


def _is_node_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)
