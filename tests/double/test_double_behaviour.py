"""Behaviour of the double beyond the recordings: jobs API, files, queue order, bookkeeping."""

from __future__ import annotations

import io
import uuid

import aiohttp
import pytest
from comfyui_double.graphs import empty_image_prompt, txt2img_prompt
from double_helpers import events_until_done, next_event, submit
from PIL import Image


def _png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


async def _upload(session: aiohttp.ClientSession, url: str, data: bytes, name: str) -> dict:
    form = aiohttp.FormData()
    form.add_field("image", data, filename=name, content_type="image/png")
    async with session.post(f"{url}/upload/image", data=form) as response:
        assert response.status == 200
        return await response.json()


async def test_upload_renames_on_conflict_and_load_image_uses_it(comfy_double) -> None:
    url = comfy_double.url
    async with aiohttp.ClientSession() as session:
        first = await _upload(session, url, _png("red"), "in.png")
        same = await _upload(session, url, _png("red"), "in.png")
        other = await _upload(session, url, _png("blue"), "in.png")
        assert [first["name"], same["name"], other["name"]] == ["in.png", "in.png", "in (1).png"]
        assert comfy_double.uploaded["in (1).png"] == _png("blue")
        prompt = {
            "1": {"class_type": "LoadImage", "inputs": {"image": other["name"]}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {
                "class_type": "SaveImage",
                "inputs": {"images": ["2", 0], "filename_prefix": "x"},
            },
        }
        submitted = await submit(session, url, prompt)
        await comfy_double.wait_idle(timeout=5)
        image = comfy_double.history[submitted["prompt_id"]]["outputs"]["3"]["images"][0]
        async with session.get(f"{url}/view", params=image) as response:
            assert response.headers["Content-Type"] == "image/png"
            inverted = Image.open(io.BytesIO(await response.read()))
            assert inverted.getpixel((0, 0)) == (255, 255, 0)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"filename": "../secret", "type": "output"}, 400),
        ({"filename": "/etc/passwd", "type": "output"}, 400),
        ({"filename": "x.png", "subfolder": "../..", "type": "output"}, 403),
        ({"filename": "missing.png", "type": "output"}, 404),
    ],
)
async def test_view_refuses_bad_paths(comfy_double, params: dict, status: int) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{comfy_double.url}/view", params=params) as response,
    ):
        assert response.status == status


async def test_pending_queue_is_a_raw_heap_and_front_jumps_ahead(comfy_double) -> None:
    url = comfy_double.url
    async with aiohttp.ClientSession() as session:
        running = await submit(session, url, txt2img_prompt(steps=500))
        numbers = [
            (await submit(session, url, empty_image_prompt(color=c)))["number"] for c in (1, 2, 3)
        ]
        front = await submit(session, url, empty_image_prompt(color=4), front=True)
        async with session.get(f"{url}/queue") as response:
            queue = await response.json()
        assert [item[1] for item in queue["queue_running"]] == [running["prompt_id"]]
        assert numbers == [1, 2, 3] and front["number"] == -4
        pending = [item[0] for item in queue["queue_pending"]]
        assert pending == [-4, 1, 3, 2]  # heap order, not sorted
        async with session.post(f"{url}/interrupt") as response:
            assert response.status == 200
        await comfy_double.wait_idle(timeout=5)
        status = comfy_double.history[running["prompt_id"]]["status"]
        assert status["messages"][-1][0] == "execution_interrupted"


async def test_targeted_interrupt_ignores_other_prompts(comfy_double) -> None:
    url = comfy_double.url
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws?clientId=c1")
        await next_event(ws)
        long = await submit(session, url, txt2img_prompt(steps=30), client_id="c1")
        while (await next_event(ws))["type"] != "progress":
            pass
        async with session.post(f"{url}/interrupt", json={"prompt_id": str(uuid.uuid4())}):
            pass
        async with session.post(f"{url}/interrupt", json={"prompt_id": long["prompt_id"]}):
            pass
        types = await events_until_done(ws, long["prompt_id"])
        assert "execution_interrupted" in types and "execution_success" not in types


async def test_jobs_api_cancels_pending_and_running(comfy_double_factory) -> None:
    comfy_double = await comfy_double_factory(version="0.33")
    url = comfy_double.url
    async with aiohttp.ClientSession() as session:
        running = await submit(session, url, txt2img_prompt(steps=500))
        pending = await submit(session, url, empty_image_prompt())
        async with session.get(f"{url}/api/jobs/{pending['prompt_id']}") as response:
            assert (await response.json())["status"] == "pending"
        for job in (pending, running):
            async with session.post(f"{url}/api/jobs/{job['prompt_id']}/cancel") as response:
                assert await response.json() == {"cancelled": True}
        await comfy_double.wait_idle(timeout=5)
        async with session.post(f"{url}/api/jobs/{pending['prompt_id']}/cancel") as response:
            assert await response.json() == {"cancelled": False}
        assert pending["prompt_id"] not in comfy_double.history
        async with session.get(f"{url}/api/jobs/{running['prompt_id']}") as response:
            assert (await response.json())["status"] == "cancelled"
        async with session.get(f"{url}/api/jobs/{pending['prompt_id']}") as response:
            assert response.status == 404
            assert await response.json() == {"error": "Job not found"}


async def test_without_jobs_api_the_routes_are_unknown(comfy_double_factory) -> None:
    double = await comfy_double_factory(jobs_api=False)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{double.url}/api/jobs/{uuid.uuid4()}/cancel") as response:
            assert response.status == 404
        async with session.get(f"{double.url}/api/jobs") as response:
            assert response.status == 404


async def test_v0_8_has_no_jobs_cancel_and_calls_an_interrupted_job_failed(
    comfy_double_factory,
) -> None:
    double = await comfy_double_factory(version="0.8")
    async with aiohttp.ClientSession() as session:
        running = await submit(session, double.url, txt2img_prompt(steps=500))
        async with session.post(f"{double.url}/api/jobs/{running['prompt_id']}/cancel") as response:
            assert response.status == 404
        async with session.post(f"{double.url}/interrupt") as response:
            assert response.status == 200
        await double.wait_idle(timeout=5)
        async with session.get(f"{double.url}/api/jobs/{running['prompt_id']}") as response:
            job = await response.json()
    assert job["status"] == "failed"
    assert "previewable_outputs_count" not in job


async def test_client_prompt_id_must_be_canonical(comfy_double_factory) -> None:
    comfy_double = await comfy_double_factory(version="0.33")
    chosen = str(uuid.uuid4())
    async with aiohttp.ClientSession() as session:
        body = {"prompt": empty_image_prompt(), "prompt_id": chosen.upper()}
        async with session.post(f"{comfy_double.url}/prompt", json=body) as response:
            assert response.status == 400
            assert (await response.json())["error"]["type"] == "invalid_prompt_id"
        accepted = await submit(session, comfy_double.url, empty_image_prompt(), prompt_id=chosen)
        assert accepted["prompt_id"] == chosen


async def test_missing_model_is_rejected_with_the_model_list(comfy_double) -> None:
    prompt = txt2img_prompt()
    prompt["4"]["inputs"]["ckpt_name"] = "nope.safetensors"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{comfy_double.url}/prompt", json={"prompt": prompt}) as response:
            assert response.status == 400
            error = (await response.json())["node_errors"]["4"]["errors"][0]
    assert error["type"] == "value_not_in_list"
    assert "sdxl_base.safetensors" in error["details"]


async def test_flux_graph_runs_with_a_preview_per_step(comfy_double) -> None:
    prompt = {
        "1": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": "flux1-schnell.safetensors", "weight_dtype": "default"},
        },
        "2": {
            "class_type": "DualCLIPLoader",
            "inputs": {
                "clip_name1": "clip_l.safetensors",
                "clip_name2": "t5xxl_fp8.safetensors",
                "type": "flux",
            },
        },
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["2", 0]}},
        "5": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["4", 0], "guidance": 3.5}},
        "6": {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["5", 0]}},
        "7": {"class_type": "RandomNoise", "inputs": {"noise_seed": 5}},
        "8": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "9": {
            "class_type": "BasicScheduler",
            "inputs": {"model": ["1", 0], "scheduler": "simple", "steps": 4, "denoise": 1.0},
        },
        "10": {
            "class_type": "EmptySD3LatentImage",
            "inputs": {"width": 64, "height": 32, "batch_size": 2},
        },
        "11": {
            "class_type": "SamplerCustomAdvanced",
            "inputs": {
                "noise": ["7", 0],
                "guider": ["6", 0],
                "sampler": ["8", 0],
                "sigmas": ["9", 0],
                "latent_image": ["10", 0],
            },
        },
        "12": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["3", 0]}},
        "13": {"class_type": "PreviewImage", "inputs": {"images": ["12", 0]}},
    }
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{comfy_double.url}/ws?clientId=c1")
        await next_event(ws)
        submitted = await submit(session, comfy_double.url, prompt, client_id="c1")
        previews = 0
        while True:
            message = await ws.receive(timeout=5)
            if message.type is aiohttp.WSMsgType.BINARY:
                previews += 1
            elif '"execution_success"' in message.data:
                break
    assert previews == 4
    images = comfy_double.history[submitted["prompt_id"]]["outputs"]["13"]["images"]
    assert [(image["type"], image["subfolder"]) for image in images] == [("temp", "")] * 2


async def test_requests_and_handshakes_are_recorded(comfy_double) -> None:
    headers = {"Authorization": "Bearer secret"}
    async with aiohttp.ClientSession(headers=headers) as session:
        ws = await session.ws_connect(f"{comfy_double.url}/ws?clientId=c1&token=t")
        await next_event(ws)
        await submit(session, comfy_double.url, empty_image_prompt(), client_id="c1")
        async with session.get(f"{comfy_double.url}/api/history", params={"max_items": "1"}):
            pass
    handshake = comfy_double.ws_handshakes[0]
    assert handshake.query == {"clientId": "c1", "token": "t"}
    assert handshake.headers["Authorization"] == "Bearer secret"
    assert [(r.method, r.path) for r in comfy_double.requests] == [
        ("POST", "/prompt"),
        ("GET", "/history"),
    ]
    assert comfy_double.requests[0].json["client_id"] == "c1"
    assert comfy_double.requests[1].query == {"max_items": "1"}
    assert comfy_double.prompts_received[0]["client_id"] == "c1"


async def test_a_double_that_learns_to_load_charges_a_checkpoint_it_does_not_hold(
    comfy_double_factory,
) -> None:
    models = {"checkpoints": ["a.safetensors", "b.safetensors"]}
    double = await comfy_double_factory(
        models=models, step_seconds=0.001, load_seconds=0.3, model_memory=1
    )
    ran: list[float] = []
    async with aiohttp.ClientSession() as session:
        for n, checkpoint in enumerate(["a.safetensors", "a.safetensors", "b.safetensors"]):
            prompt = txt2img_prompt(steps=1, seed=n, checkpoint=checkpoint)
            prompt_id = (await submit(session, double.url, prompt))["prompt_id"]
            await double.wait_idle()
            times = double.state.times[prompt_id]
            ran.append(((times.ended or 0) - (times.started or 0)) / 1000)
        # a fourth: "a" was evicted when "b" came in (memory for one model)
        await submit(session, double.url, txt2img_prompt(1, 9, "a.safetensors"))
        await double.wait_idle()

    assert double.memory.loads == ["a.safetensors", "b.safetensors", "a.safetensors"]
    assert double.memory.loaded == ["a.safetensors"]
    assert ran[0] >= 0.3 and ran[1] < 0.3 and ran[2] >= 0.3
