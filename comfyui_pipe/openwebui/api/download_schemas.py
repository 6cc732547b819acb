"""Bodies of the model files routes: each server's folders and what workflows need there,
downloads (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .model_schemas import ModelFileIn
from .schemas import RequestBody

DownloadStateOut = Literal["running", "completed", "failed", "cancelled", "interrupted"]


class ModelDownloadIn(RequestBody, ModelFileIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "server": "3f2a9c1d0b7e",
                    "folder": "checkpoints",
                    "filename": "sd15.safetensors",
                    "url": "https://huggingface.co/…/v1-5-pruned-emaonly.safetensors",
                    "sha256": None,
                    "size_bytes": None,
                }
            ]
        }
    )

    server: str = Field(description="The server's id (GET /servers).")
    url: str = Field(min_length=1, description="A direct download address (http or https).")


class DownloadOut(BaseModel):
    id: str
    server: str = Field(description="'server 1', … or 'a removed server'.")
    server_id: str
    folder: str
    filename: str
    url: str
    sha256: str | None = None
    size: int | None = Field(None, description="Expected bytes, when known.")
    received: int = Field(description="Bytes on disk so far (an earlier attempt's included).")
    percent: float | None = None
    state: DownloadStateOut = Field(
        description="interrupted: the process running it stopped; start it again to resume."
    )
    error: str | None = Field(None, description="Why it failed, as a sentence.")
    created_at: datetime
    finished_at: datetime | None = None


class StoredFileOut(BaseModel):
    name: str
    size: int | None = Field(None, description="Bytes on disk (when this Open WebUI sees it).")
    partial: bool = Field(False, description="What an unfinished download left.")


class FolderOut(BaseModel):
    name: str
    files: list[StoredFileOut]
    size: int | None = Field(None, description="Bytes of its files, when known here.")


class NeedOut(BaseModel):
    workflow: str
    workflow_title: str
    folder: str | None = Field(None, description="None: not known (no metadata names it).")
    filename: str
    url: str = ""
    size_bytes: int | None = None
    sha256: str | None = None
    present: bool


class ModelServerOut(BaseModel):
    id: str
    name: str
    url: str
    reachable: bool
    error: str | None = None
    models_folder: str | None = Field(
        None, description="Where this Open WebUI writes its models; None: install by hand."
    )
    writable: bool = False
    free_bytes: int | None = None
    folders: list[FolderOut] = Field(default_factory=list)
    needs: list[NeedOut] = Field(
        default_factory=list, description="The model files each workflow needs on it."
    )


class ModelServersOut(BaseModel):
    servers: list[ModelServerOut]


class DownloadsOut(BaseModel):
    items: list[DownloadOut] = Field(description="The latest downloads, newest first.")
