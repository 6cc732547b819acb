"""Bodies of the admins' workflow routes: the check of a file before it is saved, the
whole catalog with what each server lacks, edits (what OpenAPI shows)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .model_schemas import ModelFileIn
from .schemas import BoundsIn, RequestBody, WorkflowOut


class ServerProblemsOut(BaseModel):
    server: str = Field(description="'server 1', … in the order configured.")
    reachable: bool
    problems: list[str] = Field(
        default_factory=list, description="What this server lacks for it, one sentence each."
    )


class WorkflowAdminOut(WorkflowOut):
    enabled: bool = Field(description="Offered as a chat model and through the API.")
    servers: list[ServerProblemsOut] = Field(default_factory=list)
    models: list[ModelFileIn] = Field(
        default_factory=list, description="The model files its metadata lists."
    )


class WorkflowCheckIn(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "my_flow", "workflow": {"nodes": [], "links": []}}]}
    )

    id: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="The id it would be saved under.",
    )
    workflow: dict[str, Any] = Field(description="API or UI (editor) format.")


class WorkflowCheckOut(BaseModel):
    id: str
    format: Literal["api", "ui"]
    workflow: dict[str, Any] | None = Field(
        None, description="The API-format graph it converts to (what would be saved)."
    )
    summary: WorkflowOut | None = Field(
        None, description="Its parameters, defaults, bounds and outputs, when it reads."
    )
    models: list[ModelFileIn] = Field(
        default_factory=list, description="The model files it names (a template's loaders)."
    )
    problems: list[str] = Field(
        default_factory=list, description="Why it cannot be saved as it is, one sentence each."
    )
    servers: list[ServerProblemsOut] = Field(default_factory=list)
    saveable: bool = Field(
        description="It reads, and a reachable server lacks at most model files for it (save "
        "with missing_models=allow to download them later)."
    )
    exists: bool = Field(
        description="An uploaded workflow of this id is there (saving replaces it)."
    )


class WorkflowEdit(RequestBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "Portraits", "defaults": {"steps": 20}}]},
    )

    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=4000)
    defaults: dict[str, Any] | None = Field(None, description="Replaces the defaults.")
    bounds: dict[str, BoundsIn] | None = Field(None, description="Replaces the bounds.")


class EnabledIn(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled": False}]})

    enabled: bool
