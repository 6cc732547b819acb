"""What a user reads for a workflow's problems, for tests that check the words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from comfyui_pipe.openwebui.presenter import describe_problem
from comfyui_pipe.workflow import validate_against


def validation_sentences(graph: Mapping[str, Any], object_info: Mapping[str, Any]) -> list[str]:
    """One sentence per problem ComfyUI would find in ``graph``; empty when it runs."""
    return [describe_problem(problem) for problem in validate_against(dict(graph), object_info)]
