"""What a user can type inline in a chat message.

``a lighthouse at dusk --ar 16:9 --steps 30 --no blurry, text <lora:film:0.8>``:
``--ar W:H``, ``--size WxH`` (or a bare ``WxH``), ``--steps N``, ``--cfg X``,
``--seed N``, ``--n N`` / ``--count N``, ``--no words`` (the negative prompt, up
to the next ``--flag``) and ``<lora:name:strength>`` tags. Everything else is
the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import RequestError

# Rich-text chat inputs (Open WebUI's among them) turn a typed "--" into an em
# or en dash, so those start a flag too.
_FLAG_SPLIT = re.compile(r"(?<!\S)(?:--|\u2014|\u2013)(?=[A-Za-z])")
_LORA_TAG = re.compile(r"<lora:([^:<>]+?)(?::([^<>]*))?>", re.IGNORECASE)
_SIZE = re.compile(r"(\d{2,5})\s*[x×]\s*(\d{2,5})", re.IGNORECASE)
_BARE_SIZE = re.compile(r"(?<!\S)(\d{2,5})[x×](\d{2,5})(?!\S)", re.IGNORECASE)
_ASPECT = re.compile(r"(\d{1,3})\s*:\s*(\d{1,3})")


@dataclass(frozen=True)
class LoraRequest:
    name: str
    strength: float = 1.0


@dataclass(frozen=True)
class RequestOptions:
    """``None`` means "not asked for": the defaults, then the workflow's values apply."""

    width: int | None = None
    height: int | None = None
    aspect: tuple[int, int] | None = None
    steps: int | None = None
    cfg: float | None = None
    seed: int | None = None
    count: int | None = None
    negative_prompt: str | None = None
    loras: list[LoraRequest] = field(default_factory=list)

    @property
    def has_size(self) -> bool:
        return self.width is not None or self.height is not None or self.aspect is not None


@dataclass(frozen=True)
class ParsedMessage:
    prompt: str
    options: RequestOptions


def parse_message(text: str) -> ParsedMessage:
    """Split a chat message into the prompt and its options; raises :class:`RequestError`
    (with the fix in the sentence) for an unknown flag or a value that does not parse."""
    loras = [
        LoraRequest(name.strip(), _number(strength.strip(), float, "<lora:name:0.8>"))
        if strength
        else LoraRequest(name.strip())
        for name, strength in _LORA_TAG.findall(text)
    ]
    head, *flagged = _FLAG_SPLIT.split(_LORA_TAG.sub(" ", text))
    prompt_parts = [head]
    values: dict[str, Any] = {}
    for chunk in flagged:
        name, _, rest = chunk.partition(" ")
        flag = _FLAGS.get(name.lower())
        if flag is None:
            raise RequestError(f"Unknown option --{name}. {_USAGE}")
        if flag.takes_rest:
            values.update(flag.parse(rest.strip()))
            continue
        value, _, remainder = rest.strip().partition(" ")
        if not value:
            raise RequestError(f"--{name} needs a value. {_USAGE}")
        values.update(flag.parse(value))
        prompt_parts.append(remainder)
    prompt = " ".join(" ".join(prompt_parts).split())
    if "width" not in values and "aspect" not in values:
        bare = _BARE_SIZE.search(prompt)
        if bare:
            values.update(_size(bare.group(0)))
            prompt = " ".join(_BARE_SIZE.sub(" ", prompt, count=1).split())
    return ParsedMessage(prompt, RequestOptions(**values, loras=loras))


def parse_size(text: str) -> RequestOptions:
    """Options holding only a size, from ``"1024x768"`` or an aspect ratio ``"16:9"``
    (the per-user default); empty text gives no size."""
    text = text.strip()
    if not text:
        return RequestOptions()
    if _ASPECT.fullmatch(text):
        return RequestOptions(**_aspect(text))
    return RequestOptions(**_size(text))


@dataclass(frozen=True)
class _Flag:
    parse: Callable[[str], dict[str, Any]]
    takes_rest: bool = False


def _size(value: str) -> dict[str, Any]:
    match = _SIZE.fullmatch(value.strip())
    if not match:
        raise RequestError(f"Size '{value}' is not understood; write it like --size 1024x768.")
    return {"width": int(match.group(1)), "height": int(match.group(2)), "aspect": None}


def parse_aspect(value: str, usage: str = "16:9") -> tuple[int, int]:
    """``"16:9"`` → ``(16, 9)``; raises :class:`RequestError` for anything else."""
    match = _ASPECT.fullmatch(value.strip())
    if not match:
        raise RequestError(f"Aspect ratio '{value}' is not understood; write it like {usage}.")
    across, down = int(match.group(1)), int(match.group(2))
    check_aspect(across, down)
    return across, down


def check_aspect(across: int, down: int) -> None:
    if across < 1 or down < 1:
        raise RequestError(f"Aspect ratio {across}:{down} has a zero side; write it like 16:9.")


def _aspect(value: str) -> dict[str, Any]:
    return {"aspect": parse_aspect(value, "--ar 16:9"), "width": None, "height": None}


def _number(value: str, kind: type[int] | type[float], usage: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise RequestError(f"'{value}' is not {noun}; write it like {usage}.") from None


def _scalar(key: str, kind: type[int] | type[float], usage: str) -> _Flag:
    return _Flag(lambda value: {key: _number(value, kind, usage)})


def _negative(value: str) -> dict[str, Any]:
    if not value:
        raise RequestError("--no needs the things to avoid, like --no blurry, text.")
    return {"negative_prompt": value}


_FLAGS: dict[str, _Flag] = {
    "ar": _Flag(_aspect),
    "aspect": _Flag(_aspect),
    "size": _Flag(_size),
    "steps": _scalar("steps", int, "--steps 30"),
    "cfg": _scalar("cfg", float, "--cfg 6.5"),
    "seed": _scalar("seed", int, "--seed 42"),
    "n": _scalar("count", int, "--n 4"),
    "count": _scalar("count", int, "--count 4"),
    "no": _Flag(_negative, takes_rest=True),
}
_USAGE = (
    "Options: --ar 16:9, --size 1024x768, --steps 30, --cfg 6.5, --seed 42, --n 4, "
    "--no <things to avoid>, <lora:name:0.8>."
)
