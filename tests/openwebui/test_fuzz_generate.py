"""Property (issue 18, item 8): whatever body a user POSTs to /api/v1/comfyui/generate —
valid or broken values for every field, wrong types, huge numbers, NaN, huge lists, odd
Unicode, data URLs that are not images, any JSON at all — the answer is never a 5xx and
comes within seconds; a refusal says why in a sentence and stores no job; an accepted
body is a stored job (cancelled at once, to keep the run cheap). Requests go through our
ASGI app in-process, on the server's event loop; the ComfyUI double answers at once.
500 examples in the "ci" profile (tests/conftest.py)."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from comfyui_pipe.generation.limits import MAX_INPUT_IMAGES, MAX_LORAS
from comfyui_pipe.openwebui.runtime import PluginRuntime, get_runtime
from comfyui_pipe.workflow import bundled_workflows
from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.test_api_jobs import API

JSON = {"Content-Type": "application/json"}
SECONDS_PER_ANSWER = 5.0


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


def _data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\ud800", "a\udfffb", "\u202e\u200b", "🦜" * 30, "--n 9"]),
    st.text(st.characters(codec="utf-8"), max_size=10).map(lambda text: text * 500),
)
numbers = st.one_of(
    st.integers(-5, 5000),
    st.integers(),
    st.floats(),
    st.sampled_from([0, -1, 2**53, 2**64, 10**30, float("nan"), float("inf"), 1e308]),
)
workflows = st.sampled_from([*bundled_workflows(), "no_such_flow", "", "x" * 300])
loras = st.fixed_dictionaries(
    {"name": st.sampled_from(["detail", "missing", "", "a/b.safetensors"]) | odd_text},
    optional={"strength": numbers},
)
lora_lists = st.one_of(
    st.lists(loras, max_size=4),
    st.sampled_from([MAX_LORAS, MAX_LORAS + 1, 10_000]).map(
        lambda count: [{"name": "detail", "strength": 0.5}] * count
    ),
)
images = st.one_of(
    st.just(_data_url("image/png", _png())),
    st.binary(max_size=64).map(lambda data: _data_url("image/png", data)),
    st.sampled_from(
        [
            _data_url("text/html", b"<script>alert(1)</script>"),
            _data_url("image/svg+xml", b"<svg onload='alert(1)'/>"),
            "data:image/png;base64,not base64!",
            "data:,plain",
            "data:image/png;base64,",
            "no-such-file-id",
        ]
    ),
    odd_text,
)
image_lists = st.one_of(
    st.lists(images, max_size=3),
    st.sampled_from([MAX_INPUT_IMAGES + 1, 1_000]).map(
        lambda count: [_data_url("image/png", _png())] * count
    ),
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "workflow": workflows,
    "prompt": st.sampled_from(["a lighthouse at dusk", "upscale"]) | odd_text,
    "negative_prompt": odd_text,
    "width": numbers,
    "height": numbers,
    "aspect_ratio": st.sampled_from(["16:9", "1:1", "0:1", "999:1", "16/9"]) | odd_text,
    "steps": numbers,
    "cfg": numbers,
    "seed": numbers,
    "count": numbers,
    "loras": lora_lists,
    "images": image_lists,
}
VALID: dict[str, st.SearchStrategy[Any]] = {
    "workflow": st.sampled_from(sorted(bundled_workflows())),
    "negative_prompt": st.text(max_size=40),
    "width": st.integers(1, 32).map(lambda n: n * 64),
    "height": st.integers(1, 32).map(lambda n: n * 64),
    "aspect_ratio": st.sampled_from(["16:9", "1:1", "2:3"]),
    "steps": st.integers(1, 80),
    "cfg": st.floats(0, 30),
    "seed": st.integers(0, 2**53 - 1),
    "count": st.integers(1, 4),
    "loras": st.lists(
        st.fixed_dictionaries({"name": st.just("detail"), "strength": st.floats(-10, 10)}),
        max_size=3,
    ),
    "images": st.lists(st.just(_data_url("image/png", _png())), max_size=2),
}
"""Values a workflow may take (a body of them is refused only for a field the workflow
has no place for, a size beyond a bound, a wrong number of images, …)."""
valid_bodies = st.fixed_dictionaries({"prompt": st.text(min_size=1, max_size=40)}, optional=VALID)
broken_bodies = st.one_of(
    st.fixed_dictionaries({}, optional=FIELDS),
    st.fixed_dictionaries(
        {"prompt": st.just("a cat")},
        optional={
            name: json_values | strategy for name, strategy in FIELDS.items() if name != "prompt"
        },
    ),
    json_values,
    st.dictionaries(st.sampled_from([*FIELDS, "extra"]), json_values, max_size=4),
)
# half the bodies reach the engine's own checks (and some of them ComfyUI)
bodies = st.integers(0, 1).flatmap(lambda pick: valid_bodies if pick else broken_bodies)


class InProcess:
    """Our ASGI app called in-process on the server's loop, as ``account``."""

    def __init__(self, owui: OpenWebUIServer, account: Account) -> None:
        self.owui = owui
        self.account = account
        self.runtime: PluginRuntime = owui.run(get_runtime(owui.app))
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=owui.app),
            base_url="http://owui",
            headers=account.headers,
        )

    def check(self, body: Any) -> list[str]:
        """What happened, for Hypothesis's statistics."""
        return self.owui.run(self._check(body))

    async def _jobs(self) -> int:
        return (await self.runtime.jobs.list(self.account.id, 1, 0))[1]

    async def _check(self, body: Any) -> list[str]:
        jobs_before = await self._jobs()
        # json.dumps writes NaN, Infinity and lone surrogates, as lenient clients send them
        content = json.dumps(body)
        started = time.monotonic()
        response = await self.client.post(f"{API}/generate", content=content, headers=JSON)
        took = time.monotonic() - started

        assert response.status_code < 500, response.text
        assert took < SECONDS_PER_ANSWER, took
        answered = f"answered {response.status_code}"
        if response.status_code == 202:
            job = response.json()
            assert await self._jobs() == jobs_before + 1
            cancelled = await self.client.post(f"{API}/jobs/{job['id']}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            return [answered]
        detail = response.json()["detail"]
        assert isinstance(detail, str) and len(detail) > 1 and detail.endswith("."), detail
        assert await self._jobs() == jobs_before, "refused, yet a job was stored"
        return [answered, f"refused: {re.sub(r'[^A-Za-z ]+', '…', ' '.join(detail.split()[:4]))}"]

    async def aclose(self) -> None:
        await self.client.aclose()


@pytest.fixture(scope="module")
def in_process(
    owui: OpenWebUIServer, user: Account, comfy_session: ThreadedDouble
) -> Iterator[InProcess]:
    app = InProcess(owui, user)
    yield app
    owui.run(app.aclose())


@pytest.mark.timeout(120 + settings.default.max_examples // 2)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=bodies)
def test_no_generate_body_is_answered_with_a_server_error_or_refused_without_a_sentence(
    in_process: InProcess, body: Any
) -> None:
    for happened in in_process.check(body):
        event(happened)
