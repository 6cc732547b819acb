"""Download the model files a workflow's metadata lists (used by the docker deployment)."""

from comfyui_pipe.fetch_models.download import FetchError, FetchResult, fetch_model
from comfyui_pipe.fetch_models.manifest import models_for_workflow

__all__ = ["FetchError", "FetchResult", "fetch_model", "models_for_workflow"]
