"""How large an uploaded workflow may be, in either format, and the checks that hold it there.

The bounds are set far above what real workflows need. Measured on the 644 UI-format
templates of ``comfyui-workflow-templates-json`` 0.1.123 (every official ComfyUI template,
subgraphs expanded): the largest is ``templates-1_click_multiple_character_angles-v1.0``,
a 467 KB file of 211 nodes and 425 links; no template nests subgraphs more than 2 deep,
and none nests its JSON more than 11 levels deep.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
"""A workflow upload's request body (17x the largest template)."""
MAX_NODES = 5_000
"""Nodes of a workflow, every subgraph expanded (23x the largest template)."""
MAX_LINKS = 10_000
"""Links of a workflow, every subgraph expanded (23x the largest template)."""
MAX_EXPANDED_SIZE = MAX_UPLOAD_BYTES
"""A UI-format workflow with its subgraphs expanded, in characters of JSON, roughly: no
larger than what could be uploaded flat."""
MAX_SUBGRAPH_DEPTH = 16
"""Subgraphs inside subgraphs (8x the deepest template)."""
MAX_LINK_WORK = 200_000
"""Steps to follow every link of a UI-format workflow to a real node output, plus inputs
of bypassed nodes looked at on the way (290x the largest template's 698)."""
MAX_NESTING = 64
"""Lists and objects inside each other anywhere in a workflow (5x the deepest template)."""


class WorkflowTooLarge(ValueError):
    """A workflow beyond one of the bounds above; str() says which."""


def json_size(value: Any) -> int:
    """Roughly the length of ``value`` as JSON: one per value plus the length of every text.

    Raises :class:`WorkflowTooLarge` when lists and objects nest deeper than
    ``MAX_NESTING``; the walk stops there, whatever the depth of the rest.
    """
    if not isinstance(value, dict | list):
        return 1 + (len(value) if isinstance(value, str) else 0)
    size = 1
    pending: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > MAX_NESTING:
            raise WorkflowTooLarge(
                f"The workflow nests lists and objects more than {MAX_NESTING} levels "
                "deep; a ComfyUI workflow needs far fewer."
            )
        if isinstance(container, dict):
            size += sum(len(str(key)) for key in container)
            children: Iterable[Any] = container.values()
        else:
            children = container
        for child in children:
            size += 1
            if isinstance(child, str):
                size += len(child)
            elif isinstance(child, dict | list):
                pending.append((child, depth + 1))
    return size


def check_counts(nodes: int, links: int) -> None:
    """Raise :class:`WorkflowTooLarge` for more than ``MAX_NODES`` nodes or ``MAX_LINKS``
    links (subgraphs expanded)."""
    if nodes > MAX_NODES:
        raise WorkflowTooLarge(
            f"The workflow has {nodes:,} nodes (subgraphs expanded); "
            f"the most a workflow may have is {MAX_NODES:,}."
        )
    if links > MAX_LINKS:
        raise WorkflowTooLarge(
            f"The workflow has {links:,} links (subgraphs expanded); "
            f"the most a workflow may have is {MAX_LINKS:,}."
        )


def check_expanded_size(size: int) -> None:
    if size > MAX_EXPANDED_SIZE:
        raise WorkflowTooLarge(
            f"The workflow's subgraphs expand it to about {size:,} characters of JSON; "
            f"the most a workflow may expand to is {MAX_EXPANDED_SIZE:,}."
        )
