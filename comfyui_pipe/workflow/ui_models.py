"""The model files an editor (UI-format) workflow says it needs.

ComfyUI's own templates name them on their loader nodes, as the editor's "missing
models" dialog reads them: ``properties.models = [{name, url, directory, hash?,
hash_type?}]``, at the top level and inside subgraph definitions. They become metadata
entries (``{folder, filename, url, sha256?}``), so the console can offer to download
what a server lacks."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_SHA256 = re.compile(r"[0-9A-Fa-f]{64}")


def template_models(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each model file named on the workflow's nodes, once, in the order first named."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for node in _nodes(data):
        properties = node.get("properties")
        listed = properties.get("models") if isinstance(properties, Mapping) else None
        for entry in listed if isinstance(listed, list) else ():
            model = _entry(entry)
            if model is not None:
                found.setdefault((model["folder"], model["filename"]), model)
    return list(found.values())


def _nodes(data: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    definitions = data.get("definitions")
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, Mapping) else None
    graphs = [data, *(subgraphs if isinstance(subgraphs, list) else ())]
    for graph in graphs:
        nodes = graph.get("nodes") if isinstance(graph, Mapping) else None
        yield from (node for node in nodes or () if isinstance(node, Mapping))


def _entry(entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, Mapping):
        return None
    name, folder, url = entry.get("name"), entry.get("directory"), entry.get("url")
    if not (isinstance(name, str) and name and isinstance(folder, str) and folder):
        return None
    model: dict[str, Any] = {
        "folder": folder,
        "filename": name,
        "url": url if isinstance(url, str) else "",
    }
    digest, kind = entry.get("hash"), str(entry.get("hash_type") or "sha256").lower()
    if kind == "sha256" and isinstance(digest, str) and _SHA256.fullmatch(digest):
        model["sha256"] = digest.lower()
    return model
