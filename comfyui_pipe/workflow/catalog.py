"""Find workflow files on disk, including the ones shipped with the package."""

from __future__ import annotations

from pathlib import Path

from comfyui_pipe.workflow.model import META_SUFFIX, Workflow, load_workflow

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def bundled_workflows_dir() -> Path:
    """``comfyui_pipe/bundled_workflows`` in a wheel, the repo's ``workflows/`` otherwise."""
    installed = _PACKAGE_ROOT / "bundled_workflows"
    return installed if installed.is_dir() else _PACKAGE_ROOT.parent / "workflows"


def load_workflow_dir(directory: Path | str) -> dict[str, Workflow]:
    """Every ``<id>.json`` in ``directory`` (with its ``<id>.meta.json``), by id."""
    paths = sorted(
        path for path in Path(directory).glob("*.json") if not path.name.endswith(META_SUFFIX)
    )
    workflows = (load_workflow(path) for path in paths)
    return {workflow.id: workflow for workflow in workflows}


def bundled_workflows() -> dict[str, Workflow]:
    return load_workflow_dir(bundled_workflows_dir())
