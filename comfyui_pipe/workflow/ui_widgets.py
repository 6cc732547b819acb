"""Which widgets ComfyUI's editor gives a node, and what its saved ``widgets_values`` mean.

A UI-format node stores its widget values as a list in widget order. The editor builds
a node's widgets from the server's ``object_info``: one per widget-capable input, in the
node's input order, plus the few the editor adds itself (the ``control_after_generate``
choice after a seed, the upload button after an uploadable file list). Some of those are
saved but never sent to the server; a dynamic combo's chosen option brings its own
inputs (named ``combo.input``) right after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Input types the editor draws as a widget rather than as a socket only.
WIDGET_TYPES = frozenset(
    {
        "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "COMFY_DYNAMICCOMBO_V3",
        "AUDIO_RECORD", "BOUNDING_BOX", "BOUNDING_BOXES", "COLOR", "COLORS", "COMPOSITOR",
        "CURVE", "IMAGECOMPARE", "LOAD_3D", "WEBCAM", "PAINTER",
    }
)  # fmt: skip
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
# The image comparison slider: not saved, sent as its (empty) pair of images.
IMAGE_COMPARE = "IMAGECOMPARE"
# Nodes whose editor extension adds a 3D viewer widget named "image" after the others.
VIEWER_NODES = frozenset({"SaveGLB", "Preview3D"})
# File-list options after which the editor adds an upload button (saved, never sent).
UPLOAD_OPTIONS = ("image_upload", "video_upload", "audio_upload")


@dataclass(frozen=True)
class Widget:
    """One widget of a node as the editor builds it."""

    name: str
    default: Any = None
    saved: bool = True
    """It has a place in ``widgets_values``."""
    sent: bool = True
    """Its value goes into the API prompt."""
    options: Mapping[str, Any] | None = None
    """The input's options, for a dynamic combo (the inputs each choice brings)."""


def input_specs(schema: Mapping[str, Any]) -> Iterator[tuple[str, Any, Mapping[str, Any]]]:
    """(name, type, options) of every required and optional input, in the node's order."""
    inputs = schema.get("input") or {}
    order = schema.get("input_order") or {}
    for category in ("required", "optional"):
        specs = inputs.get(category) or {}
        for name in order.get(category) or list(specs):
            if name in specs:
                spec = specs[name]
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
                yield name, spec[0], options


def widget_type(kind: Any, options: Mapping[str, Any]) -> str | None:
    """The widget an input gets (``"COMBO"`` for any choice list), or None for a socket."""
    if options.get("forceInput"):
        return None
    if isinstance(kind, list):
        return "COMBO"
    kind = options.get("widgetType") or kind
    return kind if kind in WIDGET_TYPES else None


def input_widgets(name: str, kind: Any, options: Mapping[str, Any]) -> list[Widget]:
    """The widgets one input gives a node (none for a socket-only input)."""
    drawn = widget_type(kind, options)
    if drawn is None:
        return []
    if drawn == IMAGE_COMPARE:
        return [Widget(name, ["", ""], saved=False)]
    widgets = [
        Widget(
            name,
            default_value(drawn, kind, options),
            options=options if drawn == DYNAMIC_COMBO else None,
        )
    ]
    if drawn == "INT" and options.get("control_after_generate"):
        control = options["control_after_generate"]
        mode = control if isinstance(control, str) else "randomize"
        widgets.append(Widget("control_after_generate", mode, sent=False))
    if drawn == "COMBO" and any(options.get(flag) for flag in UPLOAD_OPTIONS):
        widgets.append(Widget("upload", "image", sent=False))
    return widgets


def default_value(drawn: str, kind: Any, options: Mapping[str, Any]) -> Any:
    """What a new widget holds before any saved value is applied."""
    if "default" in options:
        return options["default"]
    if drawn in ("COMBO", DYNAMIC_COMBO):
        choices = kind if isinstance(kind, list) else options.get("options") or []
        first = choices[0] if choices else None
        return first.get("key") if isinstance(first, Mapping) else first
    return {"INT": 0, "FLOAT": 0, "STRING": "", "BOOLEAN": False}.get(drawn)


def editor_added_widgets(node_type: str, unread_values: int) -> list[Widget]:
    """Widgets the editor's own extensions add after a node's input widgets."""
    if node_type in VIEWER_NODES:
        return [Widget("image", "")]
    if node_type == "CustomCombo":
        # the chosen index, then one text box per option (the last one empty, for a new one)
        options = max(unread_values - 1, 1)
        return [Widget("index", 0)] + [Widget(f"option{n}", "") for n in range(1, options + 1)]
    return []


def chosen_inputs(combo: Widget, value: Any) -> Iterator[tuple[str, Any, Mapping[str, Any]]]:
    """The inputs a dynamic combo's chosen option brings, named ``combo.input``."""
    for option in (combo.options or {}).get("options") or []:
        if isinstance(option, Mapping) and option.get("key") == value:
            for name, kind, options in input_specs({"input": option.get("inputs") or {}}):
                yield f"{combo.name}.{name}", kind, options


def widget_values(schema: Mapping[str, Any], saved: Any) -> dict[str, Any]:
    """The values a node sends for its widgets, by input name, in widget order.

    ``saved`` is the node's ``widgets_values``: a list in widget order (the editor's own
    format) or, from some custom nodes, a dict by widget name.
    """
    by_name = saved if isinstance(saved, Mapping) else None
    saved_list = saved if isinstance(saved, list) else []
    positional = iter(saved_list)
    values: dict[str, Any] = {}
    read = 0

    def take(widget: Widget) -> Any:
        nonlocal read
        if by_name is not None:
            return by_name.get(widget.name, widget.default)
        if not widget.saved:
            return widget.default
        read += 1
        return next(positional, widget.default)

    def use(widgets: list[Widget]) -> None:
        for widget in widgets:
            value = take(widget)
            if widget.sent:
                values[widget.name] = value
            if widget.options is not None:
                for name, kind, options in chosen_inputs(widget, value):
                    use(input_widgets(name, kind, options))

    for name, kind, options in input_specs(schema):
        use(input_widgets(name, kind, options))
    use(editor_added_widgets(str(schema.get("name", "")), len(saved_list) - read))
    return values
