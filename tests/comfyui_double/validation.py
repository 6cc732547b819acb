"""POST /prompt validation, producing the same 400 bodies as the recorded v0.8.0 server."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .schema import finalized_inputs

ValidationResult = tuple[bool, list[dict[str, Any]], str]


@dataclass
class Verdict:
    error: dict[str, Any] | None = None
    node_errors: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.error is not None


def _error(type_: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": type_, "message": message, "details": details, "extra_info": {}}


def validate_prompt(
    prompt: dict[str, Any],
    object_info: dict[str, Any],
    input_file_exists: Callable[[str], bool],
    missing_node_type: bool,
) -> Verdict:
    """Validate an API-format prompt in place (values are coerced like the real server does).

    ``missing_node_type``: name an unknown class_type the way v0.33 does, not as v0.8 did."""
    outputs = []
    for node_id, node in prompt.items():
        if "class_type" not in node:
            return Verdict(
                _error(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{node_id}'",
                )
            )
        class_type = node["class_type"]
        if class_type not in object_info:
            return Verdict(_unknown_node(node_id, node, missing_node_type))
        if object_info[class_type].get("output_node"):
            outputs.append(node_id)
    if not outputs:
        return Verdict(_error("prompt_no_outputs", "Prompt has no outputs"))

    checker = _InputChecker(prompt, object_info, input_file_exists)
    good_outputs: list[str] = []
    failures: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    for output in outputs:
        try:
            valid, reasons, _ = checker.validate(output)
        except Exception as exc:  # the real server reports any crash as a validation error
            valid = False
            reasons = [
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": str(exc),
                    "extra_info": {
                        "exception_type": _type_name(exc),
                        "traceback": traceback.format_tb(sys.exc_info()[2]),
                    },
                }
            ]
            checker.validated[output] = (False, reasons, output)
        if valid:
            good_outputs.append(output)
            continue
        failures.append((output, reasons))
        for node_id, (node_valid, node_reasons, _) in checker.validated.items():
            if node_valid or not node_reasons:
                continue
            entry = node_errors.setdefault(
                node_id,
                {
                    "errors": node_reasons,
                    "dependent_outputs": [],
                    "class_type": prompt[node_id]["class_type"],
                },
            )
            entry["dependent_outputs"].append(output)

    if not good_outputs:
        details = "\n".join(
            f"{reason['message']}: {reason['details']}"
            for _, reasons in failures
            for reason in reasons
        )
        error = _error(
            "prompt_outputs_failed_validation", "Prompt outputs failed validation", details
        )
        return Verdict(error, node_errors)
    return Verdict(None, node_errors, good_outputs)


def _unknown_node(node_id: str, node: dict[str, Any], missing_node_type: bool) -> dict[str, Any]:
    class_type = node["class_type"]
    if not missing_node_type:
        return _error(
            "invalid_prompt",
            f"Cannot execute because node {class_type} does not exist.",
            f"Node ID '#{node_id}'",
        )
    title = (node.get("_meta") or {}).get("title") or class_type
    return {
        "type": "missing_node_type",
        "message": f"Node '{title}' not found. The custom node may not be installed.",
        "details": f"Node ID '#{node_id}'",
        "extra_info": {"node_id": node_id, "class_type": class_type, "node_title": title},
    }


class _InputChecker:
    def __init__(
        self,
        prompt: dict[str, Any],
        object_info: dict[str, Any],
        input_file_exists: Callable[[str], bool],
    ) -> None:
        self.prompt = prompt
        self.object_info = object_info
        self.input_file_exists = input_file_exists
        self.validated: dict[str, ValidationResult] = {}

    def validate(self, node_id: str) -> ValidationResult:
        if node_id in self.validated:
            return self.validated[node_id]
        node = self.prompt[node_id]
        schema = self.object_info[node["class_type"]]
        inputs = node.get("inputs", {})
        errors: list[dict[str, Any]] = []
        valid = True
        for name, (input_type, category, options) in finalized_inputs(schema, inputs).items():
            if name not in inputs:
                if category == "required":
                    errors.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": name.split(".")[-1],
                            "extra_info": {"input_name": name},
                        }
                    )
                continue
            config = [input_type, options]
            value = inputs[name]
            if isinstance(value, dict) and "__value__" in value:
                value = inputs[name] = value["__value__"]
            if isinstance(value, list):
                if not self._linked_input_ok(node_id, name, value, input_type, config, errors):
                    valid = False
                continue
            error = self._check_value(schema, name, value, input_type, options, config, inputs)
            if error:
                errors.append(error)
        errors.extend(self._custom_validation(node["class_type"], inputs))
        result = (not errors and valid, errors, node_id)
        self.validated[node_id] = result
        return result

    def _linked_input_ok(
        self,
        node_id: str,
        name: str,
        link: list[Any],
        input_type: Any,
        config: list[Any],
        errors: list[dict[str, Any]],
    ) -> bool:
        if len(link) != 2:
            errors.append(
                {
                    "type": "bad_linked_input",
                    "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                    "details": name,
                    "extra_info": {
                        "input_name": name,
                        "input_config": config,
                        "received_value": link,
                    },
                }
            )
            return True
        source_id, slot = link
        source_class = self.prompt[source_id]["class_type"]  # KeyError: link to a missing node
        received_type = self.object_info[source_class]["output"][slot]
        if not _types_match(received_type, input_type):
            errors.append(
                {
                    "type": "return_type_mismatch",
                    "message": "Return type mismatch between linked nodes",
                    "details": (
                        f"{name}, received_type({received_type}) mismatch input_type({input_type})"
                    ),
                    "extra_info": {
                        "input_name": name,
                        "input_config": config,
                        "received_type": received_type,
                        "linked_node": link,
                    },
                }
            )
            return True
        try:
            return self.validate(source_id)[0]
        except Exception as exc:
            self.validated[source_id] = (
                False,
                [
                    {
                        "type": "exception_during_inner_validation",
                        "message": "Exception when validating inner node",
                        "details": str(exc),
                        "extra_info": {
                            "input_name": name,
                            "input_config": config,
                            "exception_message": str(exc),
                            "exception_type": _type_name(exc),
                            "traceback": traceback.format_tb(sys.exc_info()[2]),
                            "linked_node": link,
                        },
                    }
                ],
                source_id,
            )
            return False

    def _check_value(
        self,
        schema: dict[str, Any],
        name: str,
        value: Any,
        input_type: Any,
        options: dict[str, Any],
        config: list[Any],
        inputs: dict[str, Any],
    ) -> dict[str, Any] | None:
        converters = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
        if isinstance(input_type, str) and input_type in converters:
            try:
                value = converters[input_type](value)
            except Exception as exc:
                return {
                    "type": "invalid_input_type",
                    "message": f"Failed to convert an input value to a {input_type} value",
                    "details": f"{name}, {value}, {exc}",
                    "extra_info": {
                        "input_name": name,
                        "input_config": config,
                        "received_value": value,
                        "exception_message": str(exc),
                    },
                }
            inputs[name] = value
        if (schema["name"], name) in _CUSTOM_VALIDATED:
            return None
        extra = {"input_name": name, "input_config": config, "received_value": value}
        if "min" in options and value < options["min"]:
            message = f"Value {value} smaller than min of {options['min']}"
            return {
                "type": "value_smaller_than_min",
                "message": message,
                "details": name,
                "extra_info": extra,
            }
        if "max" in options and value > options["max"]:
            message = f"Value {value} bigger than max of {options['max']}"
            return {
                "type": "value_bigger_than_max",
                "message": message,
                "details": name,
                "extra_info": extra,
            }
        if isinstance(input_type, list) or input_type == "COMBO":
            choices = input_type if isinstance(input_type, list) else options.get("options", [])
            if value in choices:
                return None
            if len(choices) > 20:  # the real server does not echo long model lists
                listed, extra["input_config"] = f"(list of length {len(choices)})", None
            else:
                listed = str(choices)
            return {
                "type": "value_not_in_list",
                "message": "Value not in list",
                "details": f"{name}: '{value}' not in {listed}",
                "extra_info": extra,
            }
        return None

    def _custom_validation(self, class_type: str, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        if class_type == "LoadImage" and "image" in inputs:
            image = inputs["image"]
            if not self.input_file_exists(image):
                return [
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": f"image - Invalid image file: {image}",
                        "extra_info": {"input_name": "image"},
                    }
                ]
        return []


# inputs checked by a node's own VALIDATE_INPUTS instead of the generic combo check
_CUSTOM_VALIDATED = {("LoadImage", "image")}


def _types_match(received: str, expected: Any) -> bool:
    # a match-type is checked by the editor only, as on the real server
    if "*" in (received, expected) or "COMFY_MATCHTYPE_V3" in (received, expected):
        return True
    if isinstance(expected, list) or expected == "COMBO":
        return received == "COMBO"
    return bool(set(received.split(",")) & set(expected.split(",")))


def _type_name(exc: BaseException) -> str:
    module = type(exc).__module__
    name = type(exc).__qualname__
    return name if module == "builtins" else f"{module}.{name}"
