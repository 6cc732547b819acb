"""Property: whatever body an admin PUTs to /settings — valid or broken values for every
setting, unknown names, any JSON at all — the answer is never a 5xx; a refusal says
why in a sentence and leaves the stored settings and the ones in use as they were; an
acceptance stores exactly what it answers. Requests go through our ASGI app in-process,
on the server's event loop (where Open WebUI's database engine lives)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from annotated_types import Ge, Gt, Le
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from open_webui.models.functions import Functions

from comfyui_pipe.config import PipeConfig
from comfyui_pipe.openwebui.function_source import FUNCTION_ID
from comfyui_pipe.openwebui.runtime import PluginRuntime, get_runtime
from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.test_api_jobs import API

EXAMPLES = 500
JSON = {"Content-Type": "application/json"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
EDGE_TEXTS = ["", " ", ",", " , ", "=", "\r\n", "x\x00", "http://", "Pro = 0"]
broken_text = (
    st.sampled_from(EDGE_TEXTS)
    | st.text(max_size=40)
    | st.text(max_size=3).map(lambda text: text + "\r\n")
)
TEXT_EXAMPLES = {
    "comfyui_url": ["http://127.0.0.1:1", "https://comfy.example/base", "http://a, http://b"],
    "comfyui_auth_header": ["", "Authorization: Bearer abc", "X-Key:v"],
    "comfyui_token": ["", "secret-token"],
    "enabled_workflows": ["", "sd15_txt2img", "sd15_txt2img, no_such_flow"],
    "default_workflow": ["sd15_txt2img", "sd15_img2img"],
    "queue_group_weights": ["", "Pro = 3", "Pro = 3, Trial = 0.5"],
}


def number_bounds(name: str) -> tuple[float, float]:
    metadata = PipeConfig.model_fields[name].metadata
    low = next(m.ge if isinstance(m, Ge) else m.gt for m in metadata if isinstance(m, Ge | Gt))
    high = next(m.le for m in metadata if isinstance(m, Le))
    return float(low), float(high)


def valid_value(name: str) -> st.SearchStrategy[Any]:
    annotation = PipeConfig.model_fields[name].annotation
    if annotation is bool:
        return st.booleans()
    if annotation is str:
        return st.sampled_from(TEXT_EXAMPLES[name])
    low, high = number_bounds(name)
    low = max(low, 1.0) if name.startswith("lease_") else low  # heartbeats stay cheap
    if annotation is int:
        return st.integers(int(low), int(high))
    return st.floats(low, high, exclude_min=low == 0 and name == "job_timeout")


def any_value(name: str) -> st.SearchStrategy[Any]:
    return st.one_of(valid_value(name), broken_text, json_values, st.integers(), st.floats())


NAMES = list(PipeConfig.model_fields)
bodies = st.one_of(
    st.fixed_dictionaries({}, optional={name: any_value(name) for name in NAMES}),
    st.fixed_dictionaries({}, optional={name: valid_value(name) for name in NAMES}),
    json_values,
    st.dictionaries(st.text(max_size=12), json_values, max_size=3),
)


@pytest.fixture
def settings_restored(http: httpx.Client, admin: Account, comfy: ThreadedDouble) -> Iterator[None]:
    before = http.get(f"{API}/settings", headers=admin.headers).json()
    yield
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


class InProcess:
    """Our ASGI app called in-process on the server's loop."""

    def __init__(self, owui: OpenWebUIServer, admin: Account) -> None:
        self.owui = owui
        self.runtime: PluginRuntime = owui.run(get_runtime(owui.app))
        transport = httpx.ASGITransport(app=owui.app)
        self.client = httpx.AsyncClient(
            transport=transport, base_url="http://owui", headers=admin.headers
        )

    def check(self, body: Any) -> None:
        self.owui.run(self._check(body))

    async def _check(self, body: Any) -> None:
        stored_before = await Functions.get_function_valves_by_id(FUNCTION_ID)
        in_use_before = self.runtime.config

        # json.dumps writes NaN and Infinity, which JSON bodies may carry from other clients
        content = json.dumps(body)
        response = await self.client.put(f"{API}/settings", content=content, headers=JSON)

        assert response.status_code < 500, response.text
        stored = await Functions.get_function_valves_by_id(FUNCTION_ID)
        if response.status_code == 200:
            in_use = self.runtime.config.stored_values()
            assert response.json() == in_use
            # only what admins set is stored: the rest is the environment's at each start
            assert stored == {name: in_use[name] for name in {*(stored_before or {}), *body}}
            return
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail.endswith("."), detail
        assert stored == stored_before
        assert self.runtime.config is in_use_before

    async def aclose(self) -> None:
        await self.client.aclose()


@pytest.fixture
def in_process(owui: OpenWebUIServer, admin: Account) -> Iterator[InProcess]:
    app = InProcess(owui, admin)
    yield app
    owui.run(app.aclose())


@pytest.mark.timeout(600)
def test_any_settings_body_is_answered_without_a_server_error(
    in_process: InProcess, settings_restored: None
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies)
    def property_holds(body: Any) -> None:
        in_process.check(body)

    property_holds()
