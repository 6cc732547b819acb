"""One node of a generated workflow: its type, its widget values and what feeds its sockets,
drawn from the node's schema in an ``object_info``; shared by both formats."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from hypothesis import strategies as st

from comfyui_pipe.workflow.ui_widgets import Widget, input_specs, input_widgets

Draw = Callable[[st.SearchStrategy[Any]], Any]

# Core node types (every ComfyUI has them) whose inputs are plain sockets and widgets.
NODE_TYPES = (
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "ConditioningCombine",
    "EmptyImage",
    "EmptyLatentImage",
    "ImageBatch",
    "ImageBlur",
    "ImageCrop",
    "ImageInvert",
    "ImageScale",
    "KSampler",
    "LatentUpscale",
    "LoraLoader",
    "MaskToImage",
    "PreviewImage",
    "PrimitiveInt",
    "SaveImage",
    "SolidMask",
    "VAEDecode",
    "VAEEncode",
)
OUTPUT_TYPES = ("SaveImage", "PreviewImage")
SOCKET_TYPES = ("MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK", "INT")
CONTROL_MODES = ("fixed", "increment", "decrement", "randomize")
# plain text (no lone surrogates: a JSON body could not carry them)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


class Origin(NamedTuple):
    """An output something may be wired to: node id (or -10, a subgraph's input), slot."""

    node: int
    slot: int
    type: str


@dataclass(frozen=True)
class NodePlan:
    kind: str
    widgets: list[tuple[Widget, Any]]
    """Every widget the editor gives the node, in order, with its value."""
    sockets: list[tuple[str, str, Origin | None]]
    """Name, type and origin (None: left unwired) of each socket input, in order."""
    outputs: list[str]

    def sent_values(self) -> dict[str, Any]:
        return {widget.name: value for widget, value in self.widgets if widget.sent}


def finishing_kinds(draw: Draw, available: list[Origin]) -> list[str]:
    """Mostly an output node to end a workflow with (one that saves or shows an image),
    after an EmptyImage when nothing makes an image yet."""
    if not draw(st.integers(0, 3)):
        return []
    makes_images = any(origin.type == "IMAGE" for origin in available)
    return [*([] if makes_images else ["EmptyImage"]), draw(st.sampled_from(OUTPUT_TYPES))]


def buildable(object_info: Mapping[str, Any], available: list[Origin]) -> list[str]:
    """The node types whose required sockets all have an output of their type to be wired
    to, and whose choice lists are not empty."""
    types = {origin.type for origin in available}
    return [kind for kind in NODE_TYPES if _needs(object_info[kind]) <= types]


def _needs(schema: Mapping[str, Any]) -> set[str]:
    """The socket types a node requires; a type nothing has when a choice list is empty."""
    needs = set()
    for name, kind, options in input_specs(schema):
        if name not in (schema.get("input") or {}).get("required", {}):
            continue
        if isinstance(kind, list) and not kind:
            needs.add("an empty list of choices")
        elif not input_widgets(name, kind, options):
            needs.add(str(kind))
    return needs


def plan_node(
    draw: Draw, object_info: Mapping[str, Any], kind: str, available: list[Origin]
) -> NodePlan | None:
    """A node of ``kind`` wired to ``available`` outputs; None when a required socket has
    nothing of its type to be wired to, or a choice list is empty."""
    schema = object_info[kind]
    required = set((schema.get("input") or {}).get("required") or {})
    widgets: list[tuple[Widget, Any]] = []
    sockets: list[tuple[str, str, Origin | None]] = []
    for name, socket_type, options in input_specs(schema):
        drawn = input_widgets(name, socket_type, options)
        if drawn:
            for widget in drawn:
                value = widget_value(draw, widget, socket_type, options)
                if value is _UNBUILDABLE:
                    return None
                widgets.append((widget, value))
            continue
        fitting = [origin for origin in available if origin.type == socket_type]
        if not fitting and name in required:
            return None
        wire = fitting and (name in required or draw(st.booleans()))
        sockets.append((name, socket_type, draw(st.sampled_from(fitting)) if wire else None))
    return NodePlan(kind, widgets, sockets, [str(output) for output in schema.get("output") or []])


_UNBUILDABLE = object()


def widget_value(draw: Draw, widget: Widget, kind: Any, options: Mapping[str, Any]) -> Any:
    """The default mostly, else a value the input accepts."""
    if widget.name == "control_after_generate":
        return draw(st.sampled_from(CONTROL_MODES))
    if not widget.sent:
        return widget.default
    if isinstance(kind, list):
        return draw(st.sampled_from(kind)) if kind else _UNBUILDABLE
    if draw(st.integers(0, 4)) or kind not in _DRAWN:
        return widget.default
    return draw(_DRAWN[kind](options))


def _bounded_int(options: Mapping[str, Any]) -> st.SearchStrategy[int]:
    low = int(options.get("min", 0))
    return st.integers(low, min(int(options.get("max", low + 1024)), low + 1024))


def _bounded_float(options: Mapping[str, Any]) -> st.SearchStrategy[float]:
    low = float(options.get("min", 0.0))
    high = min(float(options.get("max", low + 100.0)), low + 100.0)
    return st.floats(low, high, allow_nan=False)


_DRAWN: dict[str, Callable[[Mapping[str, Any]], st.SearchStrategy[Any]]] = {
    "INT": _bounded_int,
    "FLOAT": _bounded_float,
    "STRING": lambda _: TEXT,
    "BOOLEAN": lambda _: st.booleans(),
}
