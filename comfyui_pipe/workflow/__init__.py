"""API-format ComfyUI workflows: load, detect parameters, apply, validate.

Pure: no network. The caller passes in the server's ``/object_info`` dict.
"""

from comfyui_pipe.workflow.apply import MAX_RANDOM_SEED, apply_parameters
from comfyui_pipe.workflow.catalog import (
    bundled_workflows,
    bundled_workflows_dir,
    load_workflow_dir,
)
from comfyui_pipe.workflow.detect import ParameterMap, detect_parameters
from comfyui_pipe.workflow.graph import Graph, Target
from comfyui_pipe.workflow.mapping import ExplicitMapping, from_openwebui_nodes, parse_mapping
from comfyui_pipe.workflow.model import (
    Bounds,
    ModelFile,
    OptionalStage,
    Workflow,
    WorkflowMeta,
    load_workflow,
    parse_workflow,
)
from comfyui_pipe.workflow.params import GenerationParams, Lora, PreparedPrompt
from comfyui_pipe.workflow.stages import missing_models, unavailable_stages
from comfyui_pipe.workflow.validate import (
    ValidationReport,
    check_against,
    find_problems,
    validate_against,
)

__all__ = [
    "MAX_RANDOM_SEED",
    "Bounds",
    "ExplicitMapping",
    "GenerationParams",
    "Graph",
    "Lora",
    "ModelFile",
    "OptionalStage",
    "ParameterMap",
    "PreparedPrompt",
    "Target",
    "ValidationReport",
    "Workflow",
    "WorkflowMeta",
    "apply_parameters",
    "bundled_workflows",
    "bundled_workflows_dir",
    "check_against",
    "detect_parameters",
    "find_problems",
    "from_openwebui_nodes",
    "load_workflow",
    "load_workflow_dir",
    "missing_models",
    "parse_mapping",
    "parse_workflow",
    "unavailable_stages",
    "validate_against",
]
