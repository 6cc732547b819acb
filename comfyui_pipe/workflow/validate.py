"""Check a graph against a server's ``/object_info`` before queueing it.

Problems are reported in the shape ComfyUI's own ``POST /prompt`` 400 answer
uses (``error`` + ``node_errors``), so they become the same
:class:`~comfyui_pipe.comfy.problems.Problem` values as the server's own refusals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from comfyui_pipe.comfy.errors import PromptRejected
from comfyui_pipe.comfy.model_lists import combo_options
from comfyui_pipe.comfy.problems import (
    MODEL_FILE_SUFFIXES,
    Problem,
    problems_in_node_errors,
    problems_in_rejection,
)
from comfyui_pipe.workflow.graph import Graph, is_link, sort_ids
from comfyui_pipe.workflow.node_inputs import DeclaredInput, declared_inputs, types_compatible

# Combo flags meaning "a file uploaded just before the prompt": the list is stale by design.
_UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "upload")


@dataclass(frozen=True)
class ValidationReport:
    """``errors``: top-level 400 ``error`` objects; ``node_errors``: per node, as ComfyUI."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    node_errors: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.errors or self.node_errors)

    def problems(self, graph: Graph) -> list[Problem]:
        found = [p for e in self.errors for p in problems_in_rejection({"error": e}, graph)]
        return found + problems_in_node_errors(self.node_errors, graph)

    def body(self) -> dict[str, Any]:
        """The ``POST /prompt`` 400 body ComfyUI would most likely have sent."""
        error = self.errors[0] if self.errors else _error("prompt_outputs_failed_validation")
        return {"error": error, "node_errors": self.node_errors}


def validate_against(graph: Graph, object_info: Mapping[str, Any]) -> list[Problem]:
    """What ComfyUI would refuse in ``graph``; empty when it should be accepted."""
    return find_problems(graph, object_info).problems(graph)


def check_against(graph: Graph, object_info: Mapping[str, Any]) -> None:
    """Raise :class:`PromptRejected` if ComfyUI would refuse ``graph``."""
    report = find_problems(graph, object_info)
    if report:
        raise PromptRejected(report.problems(graph), report.body())


def find_problems(graph: Graph, object_info: Mapping[str, Any]) -> ValidationReport:
    report = ValidationReport()
    for node_id in sort_ids(set(graph)):
        node = graph[node_id]
        class_type = node.get("class_type")
        schema = object_info.get(class_type) if isinstance(class_type, str) else None
        if schema is None:
            report.errors.append(_missing_node_type(node_id, node))
            continue
        errors = _node_errors(graph, node.get("inputs", {}), schema, object_info)
        if errors:
            report.node_errors[node_id] = {"errors": errors, "class_type": class_type}
    if not report.errors and not any(
        object_info[node["class_type"]].get("output_node") for node in graph.values()
    ):
        report.errors.append(_error("prompt_no_outputs", "Prompt has no outputs"))
    return report


def input_spec(object_info: Mapping[str, Any], class_type: Any, name: str) -> list[Any] | None:
    """The ``[type, options]`` declaration of one input, or ``None`` if unknown."""
    schema = object_info.get(class_type) if isinstance(class_type, str) else None
    declared = (schema or {}).get("input", {})
    spec = declared.get("required", {}).get(name) or declared.get("optional", {}).get(name)
    return spec if isinstance(spec, list) and spec else None


def _options_of(spec: list[Any]) -> Mapping[str, Any]:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}


def _node_errors(
    graph: Graph,
    inputs: Mapping[str, Any],
    schema: Mapping[str, Any],
    object_info: Mapping[str, Any],
) -> list[dict[str, Any]]:
    errors = []
    for declared in declared_inputs(schema, inputs):
        name = declared.name
        if name not in inputs:
            if declared.required:
                errors.append(
                    _input_error(
                        "required_input_missing",
                        "Required input is missing",
                        name,
                        details=declared.short_name,
                    )
                )
            continue
        value = inputs[name]
        if isinstance(value, list):
            errors.extend(_link_errors(graph, declared, value, object_info))
        else:
            errors.extend(_value_errors(name, declared.spec, _unwrapped(value)))
    return errors


def _unwrapped(value: Any) -> Any:
    """A list widget value travels as ``{"__value__": [...]}``: a bare list would be a link."""
    if isinstance(value, Mapping) and "__value__" in value:
        return value["__value__"]
    return value


def _link_errors(
    graph: Graph, declared: DeclaredInput, link: list[Any], object_info: Mapping[str, Any]
) -> list[dict[str, Any]]:
    name, spec = declared.name, declared.spec
    if not is_link(link):
        return [
            _input_error(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                name,
                input_config=spec,
                received_value=link,
            )
        ]
    source = str(link[0])
    if source not in graph:
        return [
            {
                "type": "exception_during_validation",
                "message": "Exception when validating node",
                "details": repr(source),
                "extra_info": {"exception_type": "KeyError"},
            }
        ]
    source_type = str(graph[source].get("class_type"))
    outputs = (object_info.get(source_type) or {}).get("output", [])
    if source_type in object_info and not 0 <= link[1] < len(outputs):
        return [
            {
                "type": "exception_during_validation",
                "message": "Exception when validating node",
                "details": f"it links to output {link[1]} of node {source} ({source_type}), "
                f"which has {len(outputs)} output(s)",
                "extra_info": {"exception_type": "IndexError", "input_name": name},
            }
        ]
    wanted = declared.type
    # a link into a combo is left to the server: what it accepts there depends on the node
    if not isinstance(wanted, str) or wanted == "COMBO" or not 0 <= link[1] < len(outputs):
        return []
    received = outputs[link[1]]
    if types_compatible(received, wanted):
        return []
    return [
        _input_error(
            "return_type_mismatch",
            "Return type mismatch between linked nodes",
            name,
            details=f"{name}, received_type({received}) mismatch input_type({wanted})",
            input_config=spec,
            received_type=received,
            linked_node=[source, link[1]],
        )
    ]


def _value_errors(name: str, spec: list[Any], value: Any) -> list[dict[str, Any]]:
    options = combo_options(spec)
    if options is not None:
        if value in options or any(_options_of(spec).get(flag) for flag in _UPLOAD_FLAGS):
            return []
        if not options and not _looks_like_model_file(value):
            # A node that lists no choices checks its own (``CustomCombo``); an empty
            # loader list still means its model file is not installed.
            return []
        shown = f"(list of length {len(options)})" if len(options) > 20 else str(options)
        return [
            _input_error(
                "value_not_in_list",
                "Value not in list",
                name,
                details=f"{name}: '{value}' not in {shown}",
                input_config=spec,
                received_value=value,
            )
        ]
    kind = spec[0]
    if kind not in ("INT", "FLOAT"):
        return []
    try:
        number = int(value) if kind == "INT" else float(value)
    except (TypeError, ValueError, OverflowError) as error:  # OverflowError: int(inf), 1e400
        return [
            _input_error(
                "invalid_input_type",
                f"Failed to convert an input value to a {kind} value",
                name,
                details=f"{name}, {value}, {error}",
                input_config=spec,
                received_value=value,
                exception_message=str(error),
            )
        ]
    low, high = _options_of(spec).get("min"), _options_of(spec).get("max")
    if low is not None and number < low:
        problem, text = "value_smaller_than_min", f"Value {number} smaller than min of {low}"
    elif high is not None and number > high:
        problem, text = "value_bigger_than_max", f"Value {number} bigger than max of {high}"
    else:
        return []
    return [_input_error(problem, text, name, input_config=spec, received_value=number)]


def _looks_like_model_file(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(MODEL_FILE_SUFFIXES)


def _input_error(
    kind: str, message: str, name: str, details: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "type": kind,
        "message": message,
        "details": name if details is None else details,
        "extra_info": {"input_name": name, **extra},
    }


def _error(kind: str, message: str = "Prompt outputs failed validation") -> dict[str, Any]:
    return {"type": kind, "message": message, "details": "", "extra_info": {}}


def _missing_node_type(node_id: str, node: Mapping[str, Any]) -> dict[str, Any]:
    class_type = node.get("class_type")
    title = (node.get("_meta") or {}).get("title") or class_type
    return {
        "type": "missing_node_type",
        "message": f"Node '{title}' not found. The custom node may not be installed.",
        "details": f"Node ID '#{node_id}'",
        "extra_info": {"node_id": node_id, "class_type": class_type, "node_title": title},
    }
