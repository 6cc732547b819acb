"""Bodies of the model files routes, and a workflow's model files (what OpenAPI shows)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field, field_validator

from comfyui_pipe.openwebui.model_files.names import filename_problem, folder_problem, url_problem


class ModelFileIn(BaseModel):
    """A model file a workflow needs, and where to download it."""

    folder: str = Field(description="ComfyUI's model folder: checkpoints, loras, vae, …")
    filename: str = Field(description="The file's name in that folder.")
    url: str = Field("", description="A direct download address (http or https), if known.")
    size_bytes: int | None = Field(None, ge=0)
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")

    @field_validator("folder")
    @classmethod
    def _a_folder(cls, folder: str) -> str:
        return _refused_by(folder_problem, folder)

    @field_validator("filename")
    @classmethod
    def _a_name_inside_it(cls, filename: str) -> str:
        return _refused_by(filename_problem, filename)

    @field_validator("url")
    @classmethod
    def _downloadable(cls, url: str) -> str:
        return _refused_by(url_problem, url) if url else url


def _refused_by(problem: Callable[[str], str | None], value: str) -> str:
    found = problem(value)
    if found is not None:
        raise ValueError(found)
    return value
