"""A small Dockerfile reader: what an image built from it contains and runs."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

# What the base images bring, from their upstream Dockerfiles: the python images
# (Debian slim + CPython) and Open WebUI's, which adds curl and jq for its own health check.
BASE_IMAGE_PROGRAMS = {
    "python:3.11-slim-bookworm": {"sh", "bash", "tar", "python", "python3", "pip"},
    "ghcr.io/open-webui/open-webui:v0.12.4": {
        "sh", "bash", "python", "python3", "pip", "curl", "jq",
    },
}  # fmt: skip


@dataclass
class Copied:
    sources: list[str]
    destination: str
    chmod: str | None


@dataclass
class Dockerfile:
    path: Path
    context: Path
    base_image: str = ""
    args: dict[str, str] = field(default_factory=dict)
    copies: list[Copied] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    workdir: str = "/"
    user: str = "root"
    healthcheck: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    def copied_file(self, image_path: str) -> Path | None:
        """The context file an image path was copied from (single-file COPYs)."""
        for copy in self.copies:
            if copy.destination == image_path and len(copy.sources) == 1:
                return self.context / copy.sources[0]
        return None


def parse(path: Path, context: Path) -> Dockerfile:
    result = Dockerfile(path, context)
    for instruction, rest in _instructions(path.read_text("utf-8")):
        if instruction == "ARG":
            name, _, default = rest.partition("=")
            result.args[name] = _expand(default, result.args)
        elif instruction == "FROM":
            result.base_image = _expand(rest.split()[0], result.args)
        elif instruction in ("COPY", "ADD"):
            words = [_expand(word, result.args) for word in shlex.split(rest)]
            flags = dict(word[2:].partition("=")[::2] for word in words if word.startswith("--"))
            paths = [word for word in words if not word.startswith("--")]
            result.copies.append(Copied(paths[:-1], paths[-1], flags.get("chmod")))
        elif instruction == "RUN":
            result.runs.append(rest)
        elif instruction == "VOLUME":
            result.volumes += _words(rest)
        elif instruction == "WORKDIR":
            result.workdir = rest
        elif instruction == "USER":
            result.user = rest
        elif instruction == "HEALTHCHECK":
            result.healthcheck = _words(rest.split("CMD", 1)[1])
        elif instruction == "ENTRYPOINT":
            result.entrypoint = _words(rest)
        elif instruction == "CMD":
            result.cmd = _words(rest)
    return result


def _expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], text)


def _instructions(text: str) -> list[tuple[str, str]]:
    logical, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            instruction, _, rest = current.strip().partition(" ")
            logical.append((instruction.upper(), rest.strip()))
        current = ""
    return logical


def _words(rest: str) -> list[str]:
    rest = rest.strip()
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def ignored(relative_path: str, ignore_file: Path) -> bool:
    """Whether a .dockerignore (last matching pattern wins, `!` re-includes) drops a path."""
    parts = relative_path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in ignore_file.read_text("utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        include = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/").replace("**/", "*")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            excluded = not include
    return excluded
