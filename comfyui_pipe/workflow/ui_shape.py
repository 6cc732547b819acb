"""The shape of a UI-format (litegraph) workflow, checked before anything walks it.

Only what the conversion reads is checked, and as leniently as the editor saves it: ids
and slots are whole numbers (``"5"`` and ``5.0`` pass), names and types are text (a number
passes), absent lists are empty, and everything else a node carries is left alone. The
editor saves links two ways: the root graph as arrays
``[id, origin_id, origin_slot, target_id, target_slot, type]``, subgraph definitions as
dicts with those names; either is read anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

__all__ = ["LinkShape", "NodeShape", "SubgraphShape", "UIConversionError", "WorkflowShape"]


class UIConversionError(ValueError):
    """A UI-format workflow that cannot be turned into an API prompt; str() says why."""


def _text(value: Any) -> Any:
    """A name or slot type: text, or a number the editor saved as one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return "" if value is None else value


def _present(value: Any) -> Any:
    """The editor leaves empty places in its link lists: they are skipped."""
    return [item for item in value if item] if isinstance(value, list) else value


Text = Annotated[str, BeforeValidator(_text)]
Ids = Annotated[list[int], BeforeValidator(lambda value: [] if value is None else value)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WidgetShape(_Shape):
    name: Text | None = None


class InputShape(_Shape):
    name: Text = ""
    type: Text = "*"
    link: int | None = None
    widget: WidgetShape | None = None


class OutputShape(_Shape):
    name: Text = ""
    type: Text = "*"
    links: Ids = []


class SubgraphSlotShape(_Shape):
    """One input or output of a subgraph, and the links it has inside."""

    name: Text = ""
    type: Text = "*"
    linkIds: Ids = []


class NodeShape(_Shape):
    id: int
    type: str
    mode: int | None = None
    title: Text | None = None
    inputs: list[InputShape] | None = None
    outputs: list[OutputShape] | None = None
    widgets_values: Any = None


_LINK_FIELDS = ("id", "origin_id", "origin_slot", "target_id", "target_slot")


class LinkShape(_Shape):
    id: int
    origin_id: int
    origin_slot: int
    target_id: int
    target_slot: int

    @model_validator(mode="before")
    @classmethod
    def _from_array(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if len(value) < len(_LINK_FIELDS):
            raise ValueError("a link needs at least 5 items")
        return dict(zip(_LINK_FIELDS, value, strict=False))


Links = Annotated[list[LinkShape], BeforeValidator(_present)]


class GraphShape(_Shape):
    nodes: list[NodeShape] | None = None
    links: Links | None = None


class SubgraphShape(GraphShape):
    id: Text
    name: Text | None = None
    inputs: list[SubgraphSlotShape] | None = None
    outputs: list[SubgraphSlotShape] | None = None


class DefinitionsShape(_Shape):
    subgraphs: list[SubgraphShape] | None = None


class StateShape(_Shape):
    lastNodeId: int | None = None


class WorkflowShape(GraphShape):
    nodes: list[NodeShape]
    last_node_id: int | None = None
    state: StateShape | None = None
    definitions: DefinitionsShape | None = None

    @property
    def subgraphs(self) -> list[SubgraphShape]:
        return (self.definitions.subgraphs if self.definitions else None) or []


def read_shape(data: Mapping[str, Any]) -> WorkflowShape:
    """``data`` as a :class:`WorkflowShape`; raises :class:`UIConversionError` saying where
    the first thing out of shape is."""
    try:
        return WorkflowShape.model_validate(data)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        more = f" ({len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UIConversionError(
            f"The workflow is not in ComfyUI's UI format: {_problem(problems[0])}{more}."
        ) from None


_WORDING = {
    "missing": "is missing",
    "model_type": "should be an object",
    "model_attributes_type": "should be an object",
    "dict_type": "should be an object",
    "list_type": "should be a list",
    "string_type": "should be text",
    "int_type": "should be a whole number",
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
    "finite_number": "should be a finite number",
}


def _problem(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "the workflow"
    wording = _WORDING.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
    return f"{where} {wording}"
