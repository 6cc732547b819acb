"""Property-based: the UI-format converter and the API-format reader answer any workflow,
valid or broken, with a well-formed prompt or with a refusal in a sentence, within a
second (the deadline), and never with any other exception. 500 examples per property in
the "ci" profile (tests/conftest.py)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from workflow_fuzz.api_graphs import api_workflows
from workflow_fuzz.broken import broken_api_workflows, broken_ui_workflows
from workflow_fuzz.ui_graphs import UISample, ui_workflows

from comfyui_pipe.openwebui.presenter import describe_problem
from comfyui_pipe.workflow import Workflow, parse_workflow, validate_against
from comfyui_pipe.workflow.graph import is_link
from comfyui_pipe.workflow.limits import WorkflowTooLarge
from comfyui_pipe.workflow.ui_format import UIConversionError, ui_to_api

OBJECT_INFO: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "traces" / "v0_33" / "object_info.json").read_text(
        "utf-8"
    )
)
QUICK = settings(deadline=timedelta(seconds=1))
# about 10 ms an example here; the "long" profile runs ten times as many
pytestmark = pytest.mark.timeout(60 + settings.default.max_examples // 10)


def assert_sentence(error: Exception) -> None:
    text = str(error)
    assert text[:1].isupper() and text.endswith("."), text
    gist = re.sub(r"^Node \S+|'[^']*'|[\d,]+", "…", " ".join(text.split()[:5]))
    event(f"refused: {gist}")


def assert_well_formed(prompt: dict[str, Any]) -> None:
    """Every node a known type with inputs, every link to a node of the prompt."""
    for node in prompt.values():
        assert node["class_type"] in OBJECT_INFO
        links = [value for value in node["inputs"].values() if is_link(value)]
        assert all(link[0] in prompt for link in links), node


def checked(workflow: Workflow) -> None:
    """What an upload does with a workflow once read; none of it may raise."""
    problems = validate_against(workflow.graph, OBJECT_INFO)
    assert all(isinstance(describe_problem(problem), str) for problem in problems)
    assert workflow.parameters is not None
    assert workflow.output_kinds is not None


@QUICK
@given(ui_workflows(OBJECT_INFO))
def test_a_valid_ui_workflow_converts_with_every_node_that_runs(sample: UISample) -> None:
    prompt = ui_to_api(sample.body, OBJECT_INFO)

    assert len(prompt) == sample.executed
    assert_well_formed(prompt)
    if prompt:
        checked(parse_workflow(prompt, "fuzzed"))


@QUICK
@given(broken_ui_workflows(OBJECT_INFO))
def test_a_broken_ui_workflow_converts_or_is_refused_in_a_sentence(body: Any) -> None:
    try:
        prompt = ui_to_api(body, OBJECT_INFO)
    except (UIConversionError, WorkflowTooLarge) as error:
        assert_sentence(error)
        return
    event("converted")
    assert_well_formed(prompt)


@QUICK
@given(api_workflows(OBJECT_INFO))
def test_a_valid_api_workflow_is_read_and_checked(graph: dict[str, Any]) -> None:
    checked(parse_workflow(graph, "fuzzed"))


@QUICK
@given(broken_api_workflows(OBJECT_INFO))
def test_a_broken_api_workflow_is_read_or_refused_in_a_sentence(data: Any) -> None:
    try:
        workflow = parse_workflow(data, "fuzzed")
    except ValueError as error:  # WorkflowTooLarge included
        assert_sentence(error)
        return
    event("read")
    checked(workflow)
