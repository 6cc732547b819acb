"""Load compose files the way `docker compose -f a -f b` does, for the deployment tests.

Implements the parts of the Compose Specification these files use: `extends`,
merging override files (mappings merge; `volumes` by target; `ports`,
`expose`, `networks`, `extra_hosts` as sets; `command`, `entrypoint` and
`healthcheck.test` replaced; other sequences appended) and `${VAR}` interpolation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPLACED = {"command", "entrypoint", "test"}
UNIQUE = {"ports", "expose", "networks", "extra_hosts", "dns"}
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_]\w*)"
    r"|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


def load(*paths: Path) -> dict[str, Any]:
    """The merged, not yet interpolated model of several compose files."""
    model: dict[str, Any] = {}
    for path in paths:
        model = merge(model, _resolve_extends(_read(path), path))
    return model


def _read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text("utf-8"))


def _resolve_extends(document: dict[str, Any], path: Path) -> dict[str, Any]:
    services = {
        name: _extended(service, document, path)
        for name, service in document.get("services", {}).items()
    }
    return {**document, "services": services}


def _extended(service: dict[str, Any], document: dict[str, Any], path: Path) -> dict[str, Any]:
    if "extends" not in service:
        return service
    spec = service["extends"]
    base_path = path.parent / spec["file"] if "file" in spec else path
    base_document = _read(base_path) if "file" in spec else document
    base = _extended(base_document["services"][spec["service"]], base_document, base_path)
    own = {key: value for key, value in service.items() if key != "extends"}
    return merge(base, own)


def merge(base: Any, override: Any, key: str = "") -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge(base[name], value, name) if name in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list) and key not in REPLACED:
        if key == "volumes":
            by_target = {mount_target(item): item for item in base + override}
            return list(by_target.values())
        if key in UNIQUE:
            return base + [item for item in override if item not in base]
        return base + override
    return override


def mount_target(mount: str | Mapping[str, Any]) -> str:
    if isinstance(mount, Mapping):
        return mount["target"]
    parts = mount.split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def mount_source(mount: str | Mapping[str, Any]) -> str | None:
    if isinstance(mount, Mapping):
        return mount.get("source")
    parts = mount.split(":")
    return parts[0] if len(parts) > 1 else None


class MissingVariable(Exception):
    pass


def interpolate(value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, Mapping):
        return {key: interpolate(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environ) for item in value]
    if isinstance(value, str):
        return _VARIABLE.sub(lambda match: _substitute(match, environ), value)
    return value


def _substitute(match: re.Match[str], environ: Mapping[str, str]) -> str:
    if match["escaped"]:
        return "$"
    name = match["plain"] or match["name"]
    op, arg = match["op"], match["arg"] or ""
    present = name in environ and (environ[name] != "" or not (op or "").startswith(":"))
    if present:
        return environ[name]
    if op in (":?", "?"):
        raise MissingVariable(f"required variable {name} is missing a value: {arg}")
    return arg if op in (":-", "-") else ""


def variables(path: Path) -> set[str]:
    """Every variable a compose file interpolates."""
    return {
        match["plain"] or match["name"]
        for match in _VARIABLE.finditer(path.read_text("utf-8"))
        if not match["escaped"]
    } - {None}


def read_env_file(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            entries[name.strip()] = value.strip()
    return entries
