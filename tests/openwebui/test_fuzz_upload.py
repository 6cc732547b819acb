"""Property-based, against the real Open WebUI: POST /api/v1/comfyui/workflows as an admin,
with any workflow (UI or API format, valid or broken, or no workflow at all), never answers
a 5xx; every refusal is a sentence and leaves nothing stored; what is accepted is stored.
500 examples in the "ci" profile (tests/conftest.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from workflow_fuzz.api_graphs import api_workflows
from workflow_fuzz.broken import GARBAGE, broken_api_workflows, broken_ui_workflows
from workflow_fuzz.ui_graphs import ui_workflows

from openwebui.harness import Account, ThreadedDouble
from openwebui.test_api_admin import API

ID = "fuzzed"
# about 0.1 s an example here; the "long" profile runs ten times as many
pytestmark = pytest.mark.timeout(120 + settings.default.max_examples // 2)


@pytest.fixture(scope="module")
def live_object_info(comfy_session: ThreadedDouble) -> dict[str, Any]:
    """The node schemas the double serves (its own models in the choice lists)."""
    info: dict[str, Any] = httpx.get(f"{comfy_session.url}/object_info", timeout=30).json()
    return info


def uploads(object_info: dict[str, Any]) -> st.SearchStrategy[Any]:
    workflows = st.one_of(
        ui_workflows(object_info).map(lambda sample: sample.body),
        api_workflows(object_info),
        broken_ui_workflows(object_info),
        broken_api_workflows(object_info),
    )
    # Open WebUI's own node list as a mapping, its fields anything
    node_list = st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(("prompt", "seed", "width", "model")) | GARBAGE,
                **dict.fromkeys(("node_ids", "key", "value"), GARBAGE),
            },
        ),
        max_size=3,
    )
    meta = st.fixed_dictionaries(
        {}, optional=dict.fromkeys(("title", "kind", "defaults", "bounds", "mapping"), GARBAGE)
    ) | st.fixed_dictionaries({"mapping": node_list})
    with_id = st.builds(
        lambda workflow, meta: {"id": ID, "workflow": workflow, **({"meta": meta} if meta else {})},
        workflows,
        st.none() | meta,
    )
    anything = st.dictionaries(st.sampled_from(("id", "workflow", "meta", "extra")), GARBAGE)
    # one body in ten is anything at all
    return st.integers(0, 9).flatmap(lambda pick: with_id if pick else anything)


@given(data=st.data())
def test_no_upload_is_answered_with_a_server_error_or_refused_without_a_sentence(
    http: httpx.Client, admin: Account, live_object_info: dict[str, Any], data: st.DataObject
) -> None:
    body = data.draw(uploads(live_object_info), label="body")
    # NaN and infinities as JSON text, the way a lenient client writes them
    headers = {**admin.headers, "Content-Type": "application/json"}
    response = http.post(f"{API}/workflows", headers=headers, content=json.dumps(body))
    removed = http.delete(f"{API}/workflows/{ID}", headers=admin.headers)

    assert response.status_code < 500, response.text
    event(f"answered {response.status_code}")
    if response.status_code == 201:
        assert removed.status_code == 204, "an accepted workflow was not stored"
        return
    detail = response.json()["detail"]
    assert isinstance(detail, str) and len(detail) > 1 and detail.endswith("."), detail
    assert removed.status_code == 404, f"refused with {response.status_code}, yet stored"
    event(f"refused: {re.sub(r'[^A-Za-z ]+', '…', ' '.join(detail.split()[:4]))}")
