import json
from pathlib import Path
from typing import Any

import pytest

from comfyui_pipe.workflow import Workflow, load_workflow

GRAPHS = Path(__file__).parent / "graphs"
TRACES = Path(__file__).parent.parent / "fixtures" / "traces"


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    return TRACES


@pytest.fixture(scope="session")
def object_info(traces_dir: Path) -> dict[str, Any]:
    return json.loads((traces_dir / "object_info.json").read_text("utf-8"))


@pytest.fixture
def test_graph():
    def load(name: str) -> Workflow:
        return load_workflow(GRAPHS / f"{name}.json")

    return load
