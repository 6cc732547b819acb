"""Settings from values that may not all be valid (the environment's, or valves stored by
an older version or written around our checks): each value that is not valid is left
out, with a sentence for the log, so that the plugin still starts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from comfyui_pipe.settings import VARIABLE_OF_SETTING, environment_settings

from .model import PipeConfig


@dataclass(frozen=True)
class Salvaged:
    config: PipeConfig
    problems: tuple[str, ...]
    """One sentence per value left out (never the value: it may be a secret)."""


def from_environment(environ: Mapping[str, str]) -> Salvaged:
    """The settings the environment gives, over the defaults."""
    return salvaged(environment_settings(environ), PipeConfig(), VARIABLE_OF_SETTING.__getitem__)


def salvaged(
    values: Mapping[str, Any],
    fallback: PipeConfig,
    name: Callable[[str], str] = str,
) -> Salvaged:
    """``values`` over ``fallback``; a value that is not valid keeps the fallback's.
    ``name`` names a setting in the sentences."""
    merged = {**fallback.stored_values(), **values}
    problems: list[str] = []
    while True:
        try:
            return Salvaged(PipeConfig.model_validate(merged), tuple(problems))
        except ValidationError as error:
            refused = {
                str(detail["loc"][0]) if detail["loc"] else "": detail["msg"]
                for detail in error.errors()
            }
        if "" in refused:
            return Salvaged(fallback, (*problems, "The settings are not valid."))
        for setting, message in refused.items():
            reason = message.removeprefix("Value error, ").rstrip(".")
            left_out = sorted(_checked_with(setting))
            names = " and ".join(name(each) for each in left_out)
            problems.append(f"{name(setting)} is not valid ({reason}): {names} left out.")
            for each in left_out:
                merged[each] = getattr(fallback, each)


def _checked_with(setting: str) -> frozenset[str]:
    """``setting`` and those it is valid or not together with: when its own value is
    the fallback's, theirs made it wrong."""
    groups = [group for group in PipeConfig.CHECKED_TOGETHER if setting in group]
    return frozenset({setting}.union(*groups))
