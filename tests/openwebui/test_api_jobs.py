"""POST /generate and the jobs routes: outputs as the owner's files, progress in the
owner's Socket.IO room, listing, cancelling one job, and refusals before anything runs."""

from __future__ import annotations

import base64
import io
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from comfyui_double.graphs import empty_image_prompt
from PIL import Image

from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.openwebui.runtime import get_runtime
from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble, free_port
from openwebui.job_events import JobEvents

API = "/api/v1/comfyui"
WAIT = 30.0

Job = dict[str, Any]


def png_bytes(color: str = "blue") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    return buffer.getvalue()


def generate(http: httpx.Client, account: Account, **body: Any) -> httpx.Response:
    return http.post(f"{API}/generate", headers=account.headers, json={"steps": 3, **body})


def started(http: httpx.Client, account: Account, **body: Any) -> Job:
    response = generate(http, account, **body)
    assert response.status_code == 202, response.text
    return response.json()


def wait_for_job(
    http: httpx.Client,
    account: Account,
    job_id: str,
    until: Callable[[Job], bool],
    timeout: float = WAIT,
) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"{API}/jobs/{job_id}", headers=account.headers).json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} never got there: {job}"
        time.sleep(0.05)


def finished(http: httpx.Client, account: Account, job_id: str, timeout: float = WAIT) -> Job:
    return wait_for_job(
        http,
        account,
        job_id,
        lambda job: job["state"] in ("completed", "failed", "cancelled"),
        timeout,
    )


def comfy_is_idle(comfy: ThreadedDouble) -> bool:
    return comfy.double.running is None and not comfy.double.queue_pending


@pytest.fixture
def slow_steps(comfy: ThreadedDouble) -> Iterator[None]:
    """Sampling slow enough to act while a job runs."""
    previous = comfy.double.step_seconds
    comfy.double.step_seconds = 0.2
    yield
    comfy.double.step_seconds = previous


def test_generate_answers_at_once_and_the_owner_alone_gets_the_images(
    http: httpx.Client, user: Account, other_user: Account
) -> None:
    job = started(http, user, prompt="a lighthouse", seed=1234, count=2)

    assert job["state"] in ("queued", "running")
    assert job["owner_id"] == user.id
    assert job["links"]["self"] == f"{API}/jobs/{job['id']}"
    done = finished(http, user, job["id"])
    assert done["state"] == "completed", done["error"]
    assert done["params"]["seed"] == 1234
    assert len(done["output_file_ids"]) == 2
    assert done["progress"]["percent"] == 100
    for file_id, url in zip(done["output_file_ids"], done["links"]["outputs"], strict=True):
        content = http.get(url, headers=user.headers)
        assert content.status_code == 200
        assert Image.open(io.BytesIO(content.content)).format == "PNG"
        stranger = http.get(f"/api/v1/files/{file_id}/content", headers=other_user.headers)
        assert stranger.status_code == 404


def test_img2img_takes_the_users_own_open_webui_file(
    http: httpx.Client, user: Account, other_user: Account, comfy: ThreadedDouble
) -> None:
    image = png_bytes("green")
    uploaded = http.post(
        "/api/v1/files/",
        headers=user.headers,
        params={"process": "false"},
        files={"file": ("input.png", image, "image/png")},
    )
    uploaded.raise_for_status()
    file_id = uploaded.json()["id"]

    refused = generate(http, other_user, workflow="sd15_img2img", prompt="x", images=[file_id])
    job = started(http, user, workflow="sd15_img2img", prompt="make it autumn", images=[file_id])

    assert refused.status_code == 404
    done = finished(http, user, job["id"])
    assert done["state"] == "completed", done["error"]
    assert image in comfy.double.uploaded.values()


def test_data_url_that_is_not_an_image_is_refused(http: httpx.Client, user: Account) -> None:
    text = base64.b64encode(b"just some text").decode()

    response = generate(
        http, user, workflow="sd15_img2img", prompt="x", images=[f"data:text/plain;base64,{text}"]
    )

    assert response.status_code == 415
    assert "is not an image" in response.json()["detail"]


async def test_progress_reaches_the_owners_socket_room_only(
    owui: OpenWebUIServer, user: Account, other_user: Account, slow_steps: None
) -> None:
    async with (
        JobEvents(owui.url, user) as mine,
        JobEvents(owui.url, other_user) as theirs,
        httpx.AsyncClient(base_url=owui.url, timeout=WAIT) as api,
    ):
        response = await api.post(
            f"{API}/generate", headers=user.headers, json={"prompt": "a fox", "steps": 8}
        )
        assert response.status_code == 202
        job_id = response.json()["id"]

        events = await mine.wait_for(job_id, lambda e: e["state"] == "completed")

    states = [event["state"] for event in events]
    assert states[0] in ("queued", "running") and states[-1] == "completed"
    assert states.index("running") < states.index("completed")
    assert any(str(e["phase"]).startswith("Sampling") and 0 < e["percent"] < 100 for e in events), (
        events
    )
    percents = [event["percent"] for event in events]
    assert percents == sorted(percents)
    assert events[-1]["output_file_ids"]
    assert all(event["id"] == job_id for event in events)
    assert not theirs.of(job_id)


def test_jobs_are_listed_newest_first_per_user_in_pages(
    http: httpx.Client, user: Account, other_user: Account, admin: Account
) -> None:
    ids = [finished(http, user, started(http, user, prompt=f"p{n}")["id"])["id"] for n in range(3)]
    theirs = finished(http, other_user, started(http, other_user, prompt="other")["id"])["id"]

    first = http.get(f"{API}/jobs", headers=user.headers, params={"limit": 2}).json()
    second = http.get(f"{API}/jobs", headers=user.headers, params={"limit": 2, "offset": 2}).json()

    assert [job["id"] for job in first["items"]] == ids[::-1][:2]
    assert second["items"][0]["id"] == ids[0]
    assert first["total"] == second["total"] >= 3
    every_own = http.get(f"{API}/jobs", headers=user.headers, params={"limit": 100}).json()
    assert {job["owner_id"] for job in every_own["items"]} == {user.id}
    assert theirs not in {job["id"] for job in every_own["items"]}
    everyone = http.get(f"{API}/jobs", headers=admin.headers, params={"all": True, "limit": 100})
    assert {theirs, *ids} <= {job["id"] for job in everyone.json()["items"]}
    refused = http.get(f"{API}/jobs", headers=user.headers, params={"all": True})
    assert refused.status_code == 403


def test_another_users_job_is_not_found(
    http: httpx.Client, user: Account, other_user: Account, admin: Account, slow_steps: None
) -> None:
    job = started(http, user, prompt="mine", steps=5)

    seen = http.get(f"{API}/jobs/{job['id']}", headers=other_user.headers)
    cancelled = http.post(f"{API}/jobs/{job['id']}/cancel", headers=other_user.headers)

    assert seen.status_code == 404 and cancelled.status_code == 404
    assert http.get(f"{API}/jobs/{job['id']}", headers=admin.headers).status_code == 200
    assert finished(http, user, job["id"])["state"] == "completed"


def test_cancel_stops_that_job_and_leaves_the_other_running(
    http: httpx.Client,
    user: Account,
    other_user: Account,
    comfy: ThreadedDouble,
    slow_steps: None,
) -> None:
    mine = started(http, user, prompt="to be cancelled", steps=20)
    wait_for_job(http, user, mine["id"], lambda job: job["state"] == "running")
    theirs = started(http, other_user, prompt="keeps going", steps=4)

    response = http.post(f"{API}/jobs/{mine['id']}/cancel", headers=user.headers)

    assert response.status_code == 200
    assert finished(http, user, mine["id"])["state"] == "cancelled"
    other = finished(http, other_user, theirs["id"])
    assert other["state"] == "completed" and other["output_file_ids"]
    comfy.run(comfy.double.wait_idle())
    again = http.post(f"{API}/jobs/{mine['id']}/cancel", headers=user.headers)
    assert again.json()["state"] == "cancelled"


def test_too_many_jobs_at_once_is_refused(
    http: httpx.Client, user: Account, comfy: ThreadedDouble, slow_steps: None
) -> None:
    running = [started(http, user, prompt=f"busy {n}", steps=30) for n in range(2)]

    refused = generate(http, user, prompt="one too many")

    assert refused.status_code == 429
    assert "You already have 2 generations running" in refused.json()["detail"]
    for job in running:
        http.post(f"{API}/jobs/{job['id']}/cancel", headers=user.headers).raise_for_status()
        assert finished(http, user, job["id"])["state"] == "cancelled"
    comfy.run(comfy.double.wait_idle())


def test_refusals_queue_nothing(http: httpx.Client, user: Account, comfy: ThreadedDouble) -> None:
    comfy.run(comfy.double.wait_idle())
    received = len(comfy.double.prompts_received)

    oversized = generate(http, user, prompt="huge", width=99999, height=512)
    missing_lora = generate(http, user, prompt="x", loras=[{"name": "nope", "strength": 0.5}])
    unknown = generate(http, user, workflow="no_such_flow", prompt="x")

    assert oversized.status_code == 400
    assert oversized.json()["detail"].startswith("Width 99999 is above the maximum")
    assert missing_lora.status_code == 422
    assert "LoRA 'nope.safetensors' is not installed" in missing_lora.json()["detail"]
    assert unknown.status_code == 404
    assert "There is no workflow 'no_such_flow'" in unknown.json()["detail"]
    assert len(comfy.double.prompts_received) == received
    assert comfy_is_idle(comfy)


def test_comfyui_down_is_503_with_a_sentence(
    http: httpx.Client, user: Account, admin: Account, comfy: ThreadedDouble
) -> None:
    settings = http.get(f"{API}/settings", headers=admin.headers).json()
    down = {"comfyui_url": f"http://127.0.0.1:{free_port()}"}
    http.put(f"{API}/settings", headers=admin.headers, json=down).raise_for_status()
    try:
        generation = generate(http, user, prompt="x")
        models = http.get(f"{API}/models", headers=user.headers)
        health = http.get(f"{API}/health", headers=user.headers).json()
    finally:
        http.put(f"{API}/settings", headers=admin.headers, json=settings).raise_for_status()

    assert generation.status_code == 503
    assert "is not reachable" in generation.json()["detail"]
    assert models.status_code == 503
    assert health["ok"] is False and health["backends"][0]["reachable"] is False
    assert down["comfyui_url"] not in str(health)
    assert comfy_is_idle(comfy)


def test_a_size_mapped_in_an_uploaded_workflow_reaches_the_mapped_node(
    http: httpx.Client, admin: Account, user: Account, comfy: ThreadedDouble
) -> None:
    mapping = [{"type": "width", "node_ids": ["1"]}, {"type": "height", "node_ids": ["1"]}]
    upload = {
        "id": "mapped_size",
        "workflow": empty_image_prompt("mapped"),
        "meta": {"title": "Mapped size", "mapping": mapping},
    }
    created = http.post(f"{API}/workflows", headers=admin.headers, json=upload)
    assert created.status_code == 201, created.text
    try:
        assert {"width", "height"} <= set(created.json()["parameters"])

        # the graph has no sampler: no steps to send
        job = started(
            http,
            user,
            workflow="mapped_size",
            prompt="a plain square",
            width=192,
            height=128,
            steps=None,
        )
        done = finished(http, user, job["id"])

        assert done["state"] == "completed", done["error"]
        posted = [r.json["prompt"] for r in comfy.double.requests if r.path == "/prompt"]
        node = posted[-1]["1"]["inputs"]
        assert (node["width"], node["height"]) == (192, 128)
        (url,) = done["links"]["outputs"]
        image = Image.open(io.BytesIO(http.get(url, headers=user.headers).content))
        assert image.size == (192, 128)
    finally:
        http.delete(f"{API}/workflows/mapped_size", headers=admin.headers)


def test_a_job_an_earlier_version_stored_differently_is_listed_without_its_progress(
    owui: OpenWebUIServer, http: httpx.Client, user: Account, admin: Account
) -> None:
    earlier = JobRecord(
        uuid.uuid4().hex,
        user.id,
        "sd15_txt2img",
        {"prompt": "a lighthouse"},
        JobState.COMPLETED,
        time.time(),
        finished_at=time.time(),
        progress={"percent": 100, "description": "Done in 2.8 s"},  # not today's shape
    )
    owui.run(owui.run(get_runtime(owui.app)).jobs.create(earlier))

    mine = http.get(f"{API}/jobs", headers=user.headers, params={"limit": 100})
    everyone = http.get(f"{API}/jobs", headers=admin.headers, params={"all": True, "limit": 100})
    one = http.get(f"{API}/jobs/{earlier.id}", headers=user.headers)

    assert (mine.status_code, everyone.status_code, one.status_code) == (200, 200, 200)
    assert one.json()["state"] == "completed" and one.json()["progress"] is None
