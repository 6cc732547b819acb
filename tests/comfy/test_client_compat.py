"""Answers the test double does not give: older servers, proxies and size limits."""

import json
import socket
import uuid
from pathlib import Path

import httpx
import pytest
import respx

from comfyui_pipe.comfy.client import ComfyClient
from comfyui_pipe.comfy.errors import ComfyProtocolError, ComfyUnreachable, PromptRejected
from comfyui_pipe.openwebui.presenter import describe, describe_problem

BASE = "http://comfy.test"
JOB = "0a949d47-f6fb-408c-afb0-59ef08cbc506"
TRACES = Path(__file__).parent.parent / "fixtures" / "traces"
EMPTY_IMAGE = json.loads((TRACES / "workflows" / "a_emptyimage_save.json").read_text())


def _queue_body(running: list[str], pending: list[str]) -> dict:
    return {
        "queue_running": [[i, p, {}, {}, []] for i, p in enumerate(running)],
        "queue_pending": [[10 + i, p, {}, {}, []] for i, p in enumerate(pending)],
    }


@pytest.fixture
def server():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def client():
    async with ComfyClient(BASE) as client:
        yield client


def _calls(server: respx.MockRouter) -> list[tuple[str, str, object]]:
    return [
        (c.request.method, c.request.url.path, json.loads(c.request.content or b"null"))
        for c in server.calls
    ]


@pytest.mark.parametrize(
    "route_missing",
    [
        httpx.Response(405, text="405: Method Not Allowed"),
        httpx.Response(404, text="404: Not Found"),
    ],
)
async def test_old_server_cancels_running_job_by_id_and_remembers(server, client, route_missing):
    server.post(f"/api/jobs/{JOB}/cancel").mock(return_value=route_missing)
    server.post("/api/queue").respond(200)
    server.get("/api/queue").respond(json=_queue_body(running=[JOB], pending=["other"]))
    server.post("/api/interrupt").respond(200)

    await client.cancel(JOB)
    await client.cancel(JOB)

    once = [
        ("POST", "/api/queue", {"delete": [JOB]}),
        ("GET", "/api/queue", None),
        ("POST", "/api/interrupt", {"prompt_id": JOB}),
    ]
    assert _calls(server) == [("POST", f"/api/jobs/{JOB}/cancel", None), *once, *once]


async def test_old_server_never_interrupts_when_the_job_is_not_the_running_one(server, client):
    server.post(f"/api/jobs/{JOB}/cancel").respond(405)
    server.post("/api/queue").respond(200)
    server.get("/api/queue").respond(json=_queue_body(running=["someone-else"], pending=[]))
    interrupt = server.post("/api/interrupt").respond(200)

    await client.cancel(JOB)

    assert not interrupt.called


async def test_job_not_found_on_the_jobs_api_is_not_a_missing_route(server, client):
    server.post(f"/api/jobs/{JOB}/cancel").respond(404, json={"error": "Job not found"})
    fallback = server.post("/api/queue").respond(200)

    await client.cancel(JOB)

    assert not fallback.called


@pytest.mark.parametrize("answer", [httpx.Response(405), httpx.Response(404, json={"error": "x"})])
async def test_job_is_none_without_jobs_api_or_job(server, client, answer):
    server.get(f"/api/jobs/{JOB}").mock(return_value=answer)

    assert await client.job(JOB) is None


async def test_oversized_workflow_is_rejected_with_the_size_limit(server, client):
    server.post("/api/prompt").respond(413)

    with pytest.raises(PromptRejected) as caught:
        await client.submit(EMPTY_IMAGE)

    assert "--max-upload-size" in describe(caught.value)


async def test_partially_valid_workflow_is_queued_with_warnings(server, client):
    node_errors = json.loads((TRACES / "c_invalid_400_summary.json").read_text())[
        "c1_value_below_min"
    ]["body"]["node_errors"]
    server.post("/api/prompt").respond(
        json={"prompt_id": JOB, "number": 4, "node_errors": node_errors}
    )

    submitted = await client.submit(EMPTY_IMAGE, prompt_id=JOB)

    assert submitted.number == 4
    assert [describe_problem(problem) for problem in submitted.warnings] == [
        "width 0 is below the minimum 1"
    ]


async def test_server_that_picks_its_own_prompt_id_wins(server, client):
    route = server.post("/api/prompt").respond(json={"prompt_id": JOB, "number": 1})

    submitted = await client.submit(EMPTY_IMAGE)

    sent = json.loads(route.calls.last.request.content)
    assert sent["prompt_id"] != JOB
    assert sent["prompt_id"] == str(uuid.UUID(sent["prompt_id"]))
    assert submitted.prompt_id == JOB


async def test_models_fall_back_to_loader_combos_on_servers_without_models_route(server, client):
    server.get("/api/models/checkpoints").respond(404)
    server.get("/api/models/loras").respond(404)
    server.get("/api/object_info/CheckpointLoaderSimple").respond(
        json={"CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["a.safetensors"]]}}}}
    )
    server.get("/api/object_info/LoraLoader").respond(
        json={
            "LoraLoader": {
                "input": {"required": {"lora_name": ["COMBO", {"options": ["x.safetensors"]}]}}
            }
        }
    )

    assert await client.models("checkpoints") == ["a.safetensors"]
    assert await client.models("loras") == ["x.safetensors"]


async def test_features_are_empty_on_servers_without_the_route(server, client):
    server.get("/api/features").respond(404)

    assert await client.features() == {}


async def test_a_login_page_instead_of_json_is_a_readable_error(server, client):
    server.get("/api/queue").respond(200, html="<html>Sign in</html>")

    with pytest.raises(ComfyProtocolError, match="other than JSON"):
        await client.queue()


async def test_connection_refused_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: nothing listens there.
    async with ComfyClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ComfyUnreachable) as caught:
            await client.system_stats()

    assert caught.value.server == f"http://127.0.0.1:{port}"
    assert caught.value.reason


def test_ws_url_keeps_the_path_prefix_and_carries_client_id_and_token():
    client = ComfyClient("https://example.org/comfy/", token="s3 cr&t", client_id="abc")

    assert client.ws_url == "wss://example.org/comfy/ws?clientId=abc&token=s3+cr%26t"
    assert ComfyClient("http://h:8188", client_id="abc").ws_url == "ws://h:8188/ws?clientId=abc"
