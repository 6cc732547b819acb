"""The inputs a node declares for the values it was given, as ComfyUI's server works them out.

Current node schemas (the "V3" API) declare dynamic inputs whose real inputs depend on the
prompt: an autogrow input (``COMFY_AUTOGROW_V3``) stands for numbered or named copies of a
template input, a dynamic combo (``COMFY_DYNAMICCOMBO_V3``) for the inputs of the option
chosen, a dynamic slot (``COMFY_DYNAMICSLOT_V3``) for more inputs once it is connected. In
API format those arrive as dotted names under the dynamic input's name (``values.a``,
``resize_type.width``). Everything else is declared as it stands.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

AUTOGROW = "COMFY_AUTOGROW_V3"
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
DYNAMIC_SLOT = "COMFY_DYNAMICSLOT_V3"
MATCH_TYPE = "COMFY_MATCHTYPE_V3"
ANY = "*"


@dataclass(frozen=True)
class DeclaredInput:
    name: str
    """Dotted for the inputs of a dynamic input: ``values.a``."""
    required: bool
    spec: list[Any]
    """``[type, options]`` as ``/object_info`` lists it."""

    @property
    def type(self) -> Any:
        return self.spec[0]

    @property
    def options(self) -> Mapping[str, Any]:
        options = self.spec[1] if len(self.spec) > 1 else None
        return options if isinstance(options, Mapping) else {}

    @property
    def short_name(self) -> str:
        """What ComfyUI calls a missing one: the last part of a dotted name."""
        return self.name.rsplit(".", 1)[-1]


def declared_inputs(schema: Mapping[str, Any], given: Mapping[str, Any]) -> list[DeclaredInput]:
    """The inputs ``schema`` (one ``/object_info`` entry) declares for the ``given`` inputs."""
    declared = schema.get("input") or {}
    return list(_expand(declared, given, ()))


def _expand(
    sections: Mapping[str, Any], given: Mapping[str, Any], prefix: tuple[str, ...]
) -> Iterator[DeclaredInput]:
    for section in ("required", "optional"):
        for name, spec in (sections.get(section) or {}).items():
            if not isinstance(spec, list | tuple) or not spec:
                continue
            spec = list(spec)
            path = (*prefix, name)
            dotted = ".".join(path)
            kind = spec[0]
            if kind == AUTOGROW:
                yield from _autogrow(spec, given, path)
            elif kind in (DYNAMIC_COMBO, DYNAMIC_SLOT):
                # only once given; then the inputs it reveals come with it
                if dotted in given:
                    yield DeclaredInput(dotted, section == "required", spec)
                    yield from _expand(_revealed(spec, given[dotted]), given, path)
            else:
                yield DeclaredInput(dotted, section == "required", spec)


def _revealed(spec: list[Any], chosen: Any) -> Mapping[str, Any]:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
    if spec[0] == DYNAMIC_SLOT:
        return options.get("inputs") or {}
    for option in options.get("options") or ():
        if isinstance(option, Mapping) and option.get("key") == chosen:
            return option.get("inputs") or {}
    return {}


def _autogrow(
    spec: list[Any], given: Mapping[str, Any], path: tuple[str, ...]
) -> Iterator[DeclaredInput]:
    template = (spec[1] if len(spec) > 1 else {}).get("template") or {}
    if "names" in template:
        names = list(template["names"])
    else:
        names = [f"{template.get('prefix', '')}{i}" for i in range(int(template.get("max", 0)))]
    minimum = int(template.get("min", 0))
    template_input = template.get("input") or {}
    for section in ("required", "optional"):
        inputs = template_input.get(section) or {}
        if inputs:
            copy_spec = list(next(iter(inputs.values())))
            for index, name in enumerate(names):
                required = section == "required" and index < minimum
                yield DeclaredInput(".".join((*path, name)), required, copy_spec)
            return


def types_compatible(received: Any, wanted: Any) -> bool:
    """Whether an output of type ``received`` may feed an input of type ``wanted``.

    As ComfyUI checks a link: the same type, the any type ``*``, a match-type (checked by
    the editor only), or comma-separated unions with a type in common.
    """
    if received == wanted or ANY in (received, wanted) or MATCH_TYPE in (received, wanted):
        return True
    if not isinstance(received, str) or not isinstance(wanted, str):
        return False
    return bool(
        {part.strip() for part in received.split(",")}
        & {part.strip() for part in wanted.split(",")}
    )
