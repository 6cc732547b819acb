"""Valid API-format workflows: core nodes wired where types match, widget values the
inputs accept (mostly their defaults), mostly ending with a node that saves an image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from .nodes import TEXT, Draw, Origin, buildable, finishing_kinds, plan_node


@st.composite
def api_workflows(draw: Draw, object_info: Mapping[str, Any]) -> dict[str, Any]:
    graph: dict[str, Any] = {}
    available: list[Origin] = []

    def add(kind: str) -> None:
        plan = plan_node(draw, object_info, kind, available)
        assert plan is not None  # buildable: every required socket has something to take
        node_id = len(graph) + 1
        links = {
            name: [str(origin.node), origin.slot] for name, _, origin in plan.sockets if origin
        }
        graph[str(node_id)] = {
            "class_type": kind,
            "inputs": plan.sent_values() | links,
            "_meta": {"title": draw(TEXT) or kind},
        }
        available.extend(Origin(node_id, slot, made) for slot, made in enumerate(plan.outputs))

    for _ in range(draw(st.integers(1, 12))):
        add(draw(st.sampled_from(buildable(object_info, available))))
    for kind in finishing_kinds(draw, available):
        add(kind)
    return graph
