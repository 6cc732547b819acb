"""Which model files a workflow needs: read from its bundled metadata."""

from __future__ import annotations

from pathlib import Path

from comfyui_pipe.fetch_models.download import FetchError
from comfyui_pipe.workflow.model import ModelFile, load_workflow


def models_for_workflow(workflows_dir: Path, workflow_id: str) -> tuple[ModelFile, ...]:
    """The models listed in ``<workflows_dir>/<workflow_id>.meta.json``."""
    path = workflows_dir / f"{workflow_id}.json"
    if not path.is_file():
        available = sorted(
            p.name.removesuffix(".json")
            for p in workflows_dir.glob("*.json")
            if not p.name.endswith(".meta.json")
        )
        raise FetchError(
            f"No workflow '{workflow_id}' in {workflows_dir} "
            f"(available: {', '.join(available) or 'none'})."
        )
    try:
        return load_workflow(path).meta.models
    except (ValueError, KeyError) as error:
        raise FetchError(f"Cannot read the metadata of workflow '{workflow_id}': {error}") from None
