"""Issue 8's hostile inputs (D1–D10) through the HTTP API and, where the chat reaches
them, through the chat: each refused with a 4xx and a sentence, before anything is
stored, uploaded or queued."""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from comfyui_double.graphs import empty_image_prompt, txt2img_prompt

from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble

API = "/api/v1/comfyui"


def post_raw(http: httpx.Client, account: Account, path: str, body: str) -> httpx.Response:
    """JSON text as sent, so that it may carry NaN, Infinity or "\\ud800"."""
    headers = {**account.headers, "Content-Type": "application/json"}
    return http.post(f"{API}{path}", headers=headers, content=body.encode())


def job_total(http: httpx.Client, account: Account) -> int:
    return http.get(f"{API}/jobs", headers=account.headers).json()["total"]


def assert_sentence(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail.endswith("."), detail
    for word in words:
        assert word in detail, detail


def chat_reply(http: httpx.Client, account: Account, text: str, model: str) -> str:
    """The chat's answer to one message (no saved chat: Open WebUI answers inline)."""
    response = http.post(
        "/api/chat/completions",
        headers=account.headers,
        json={"model": model, "stream": False, "messages": [{"role": "user", "content": text}]},
    )
    if response.status_code != 200:
        return str(response.json().get("detail"))
    return response.json()["choices"][0]["message"]["content"]


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` pixels in a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


# -- D1: the API obeys the chat's model access ---------------------------------------


@pytest.fixture
def restricted_models(http: httpx.Client, admin: Account) -> Iterator[tuple[str, str]]:
    """As in the issue: sdxl's access grants removed, flux schnell deactivated."""
    ungranted, inactive = "sdxl_txt2img", "flux_schnell_txt2img"
    models = "/api/v1/models/model"
    grants = http.get(f"{models}?id=comfyui.{ungranted}", headers=admin.headers).json()
    http.post(
        f"{models}/access/update",
        headers=admin.headers,
        json={"id": f"comfyui.{ungranted}", "access_grants": []},
    ).raise_for_status()
    http.post(f"{models}/toggle?id=comfyui.{inactive}", headers=admin.headers).raise_for_status()
    # the chat reads Open WebUI's model list as last loaded (the web UI reloads it)
    http.get("/api/models", headers=admin.headers).raise_for_status()
    yield ungranted, inactive
    http.post(f"{models}/toggle?id=comfyui.{inactive}", headers=admin.headers).raise_for_status()
    http.post(
        f"{models}/access/update",
        headers=admin.headers,
        json={"id": f"comfyui.{ungranted}", "access_grants": grants["access_grants"]},
    ).raise_for_status()


def test_d1_the_api_obeys_the_model_access_the_chat_obeys(
    http: httpx.Client, user: Account, admin: Account, restricted_models: tuple[str, str]
) -> None:
    ungranted, inactive = restricted_models
    total = job_total(http, user)

    listed = {w["id"] for w in http.get(f"{API}/workflows", headers=user.headers).json()}
    refused = [
        http.post(f"{API}/generate", headers=user.headers, json={"workflow": w, "prompt": "x"})
        for w in (ungranted, inactive)
    ]
    in_chat = [chat_reply(http, user, "a cat", f"comfyui.{w}") for w in (ungranted, inactive)]
    admin_listed = {w["id"] for w in http.get(f"{API}/workflows", headers=admin.headers).json()}

    assert "sd15_txt2img" in listed and not {ungranted, inactive} & listed
    for response, workflow in zip(refused, (ungranted, inactive), strict=True):
        assert_sentence(response, 403, f"'{workflow}'")
    assert all("Model not found" in reply for reply in in_chat), in_chat
    assert job_total(http, user) == total
    # admins bypass the grants as Open WebUI does; a deactivated model is gone for everyone
    assert ungranted in admin_listed and inactive not in admin_listed


def test_d1_an_unknown_workflow_names_only_usable_ones(
    http: httpx.Client, user: Account, restricted_models: tuple[str, str]
) -> None:
    response = http.post(
        f"{API}/generate", headers=user.headers, json={"workflow": "nope", "prompt": "x"}
    )

    assert_sentence(response, 404, "'nope'", "sd15_txt2img")
    assert not any(w in response.json()["detail"] for w in restricted_models)


# -- D3–D9: refused with a sentence, nothing stored ------------------------------------

SURROGATE = '"a \\ud800 cat"'


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (f'{{"prompt": {SURROGATE}}}', 422, ["not valid Unicode"]),
        (f'{{"prompt": "a cat", "negative_prompt": {SURROGATE}}}', 422, ["not valid Unicode"]),
        (f'{{"prompt": "a cat", "loras": [{{"name": {SURROGATE}}}]}}', 422, ["not valid Unicode"]),
        ('{"prompt": "a cat", "steps": 0, "extra": ' + SURROGATE + "}", 422, ["not valid"]),
        ('{"prompt": "' + "x" * 4001 + '"}', 400, ["4,001 characters", "4,000"]),
        ('{"prompt": "' + "x" * 5_000_000 + '", "steps": 100000}', 400, ["characters long"]),
        ('{"prompt": "a cat", "steps": 100000}', 400, ["Steps 100000", "maximum"]),
        ('{"prompt": "a cat", "aspect_ratio": "0:1"}', 422, ["aspect_ratio"]),
        ('{"prompt": "a cat", "aspect_ratio": "1:0"}', 422, ["aspect_ratio"]),
        ('{"prompt": "a cat", "height": 1' + "0" * 400 + "}", 400, ["Height", "digit"]),
        ('{"prompt": "a cat", "seed": 1' + "0" * 400 + "}", 422, ["seed"]),
        ('{"prompt": "a cat", "cfg": NaN}', 422, ["cfg", "finite"]),
        ('{"prompt": "a cat", "cfg": Infinity}', 422, ["cfg", "finite"]),
        ('{"prompt": "a cat", "cfg": 1e400}', 422, ["cfg", "finite"]),
        ('{"prompt": "a cat", "loras": [{"name": "x", "strength": 50}]}', 422, ["strength"]),
        ('{"prompt": "a cat", "steps": 0}', 422, ["steps"]),
        ('{"prompt": ""}', 400, ["Write what to generate"]),
        ('{"prompt": "a cat", "steps": ', 422, ["not valid JSON"]),
    ],
    ids=[
        "d3-surrogate-prompt",
        "d3-surrogate-negative",
        "d3-surrogate-lora",
        "d3-422-never-echoes-a-surrogate",
        "d4-prompt-over-the-limit",
        "d4-5mib-prompt-and-100000-steps",
        "d4-100000-steps",
        "d5-aspect-0-1",
        "d5-aspect-1-0",
        "d5-401-digit-height",
        "d5-401-digit-seed",
        "d6-cfg-nan",
        "d6-cfg-infinity",
        "d6-cfg-overflow",
        "d9-lora-strength-50",
        "d9-steps-0",
        "d9-empty-prompt",
        "d9-broken-json",
    ],
)
def test_bad_input_to_generate_is_a_sentence_and_stores_nothing(
    http: httpx.Client, user: Account, comfy: ThreadedDouble, body: str, status: int, words: list
) -> None:
    total, prompts = job_total(http, user), len(comfy.double.prompts_received)

    response = post_raw(http, user, "/generate", body)

    assert_sentence(response, status, *words)
    assert job_total(http, user) == total
    assert len(comfy.double.prompts_received) == prompts


def test_d5_an_offset_past_any_database_is_a_sentence(http: httpx.Client, user: Account) -> None:
    response = http.get(f"{API}/jobs?offset=9223372036854775808", headers=user.headers)

    assert_sentence(response, 422, "offset")


@pytest.mark.parametrize(
    ("width", "height", "words"),
    [(10_000, 10_000, ["10000×10000 pixels", "megapixels"]), (30_000, 30_000, ["too large"])],
    ids=["d8-10000-squared", "d8-30000-squared-bomb"],
)
def test_d8_an_image_with_too_many_pixels_is_too_large_and_never_uploaded(
    http: httpx.Client,
    user: Account,
    comfy: ThreadedDouble,
    width: int,
    height: int,
    words: list,
) -> None:
    total, uploaded = job_total(http, user), dict(comfy.double.uploaded)

    response = http.post(
        f"{API}/generate",
        headers=user.headers,
        json={
            "workflow": "sd15_img2img",
            "prompt": "x",
            "images": [data_url(png_header(width, height))],
        },
    )

    assert_sentence(response, 413, "too large", *words)
    assert "not an image" not in response.json()["detail"]
    assert job_total(http, user) == total and comfy.double.uploaded == uploaded


@pytest.fixture
def one_byte_images(http: httpx.Client, admin: Account) -> Iterator[None]:
    before = http.get(f"{API}/settings", headers=admin.headers).json()
    http.put(f"{API}/settings", headers=admin.headers, json={"max_image_bytes": 100})
    yield
    http.put(f"{API}/settings", headers=admin.headers, json=before).raise_for_status()


def test_d8_an_image_file_above_the_byte_limit_is_refused_before_it_is_read(
    http: httpx.Client, user: Account, one_byte_images: None
) -> None:
    uploaded = http.post(
        "/api/v1/files/",
        headers=user.headers,
        params={"process": "false"},
        files={"file": ("big.png", png_header(64, 64) + b"\0" * 200, "image/png")},
    )
    uploaded.raise_for_status()

    response = http.post(
        f"{API}/generate",
        headers=user.headers,
        json={"workflow": "sd15_img2img", "prompt": "x", "images": [uploaded.json()["id"]]},
    )

    assert_sentence(response, 413, "'big.png' is too large", "100 bytes")


# -- D7: workflow uploads fully validated before they are stored ----------------------


def _graph(**changes: Any) -> dict[str, Any]:
    graph = txt2img_prompt()
    for node_id, node in changes.items():
        graph[node_id] = node
    return graph


def _sampler_input(name: str, value: Any) -> dict[str, Any]:
    graph = txt2img_prompt()
    graph["3"]["inputs"][name] = value
    return graph


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (
            {"workflow": {**txt2img_prompt(), "9": {"class_type": "SaveImage", "_meta": "x"}}},
            400,
            ["_meta"],
        ),
        ({"workflow": _sampler_input("steps", "INF")}, 422, ["Steps 'INF'", "INT"]),
        ({"workflow": _sampler_input("cfg", 10**400)}, 422, ["Cfg 1000", "FLOAT"]),
        ({"workflow": _sampler_input("model", ["4", 7])}, 422, ["output 7"]),
        ({"workflow": _sampler_input("model", ["99", 0])}, 400, ["node 99"]),
        ({"workflow": _sampler_input("latent_image", ["3", 0])}, 400, ["cycle"]),
        ({"workflow": {"1": {"class_type": "SaveImage", "inputs": 5}}}, 400, ["inputs"]),
        ({"workflow": txt2img_prompt(), "meta": {"defaults": {"steps": "abc"}}}, 400, ["steps"]),
        ({"workflow": txt2img_prompt(), "meta": {"defaults": {"width": "abc"}}}, 400, ["width"]),
        (
            {"workflow": txt2img_prompt(), "meta": {"bounds": {"steps": {"min": 9, "max": 1}}}},
            400,
            ["minimum above"],
        ),
    ],
    ids=[
        "meta-string",
        "int-infinity-as-text",
        "float-400-digits",
        "missing-output-index",
        "missing-node",
        "cycle",
        "inputs-5",
        "defaults-steps-abc",
        "defaults-width-abc",
        "bounds-reversed",
    ],
)
def test_d7_a_broken_upload_is_a_sentence_and_is_not_stored(
    http: httpx.Client, admin: Account, body: dict[str, Any], status: int, words: list
) -> None:
    response = http.post(f"{API}/workflows", headers=admin.headers, json={"id": "broken", **body})

    assert_sentence(response, status, *words)
    listed = {w["id"] for w in http.get(f"{API}/workflows", headers=admin.headers).json()}
    assert "broken" not in listed


@pytest.mark.parametrize(
    ("literal", "words"), [("Infinity", ["steps", "finite"]), ("NaN", ["steps", "finite"])]
)
def test_d7_an_upload_with_a_non_finite_number_is_a_sentence(
    http: httpx.Client, admin: Account, literal: str, words: list
) -> None:
    graph = json.dumps(_sampler_input("steps", 12345)).replace("12345", literal)
    response = post_raw(http, admin, "/workflows", f'{{"id": "broken", "workflow": {graph}}}')

    assert_sentence(response, 400, *words)


# -- D9: what is listed is what is accepted; one bound for chat and API ---------------


def test_d9_the_parameters_listed_are_exactly_those_generate_accepts(
    http: httpx.Client, admin: Account, user: Account
) -> None:
    upload = {"id": "no_sampler", "workflow": empty_image_prompt("plain")}
    created = http.post(f"{API}/workflows", headers=admin.headers, json=upload)
    assert created.status_code == 201, created.text
    try:
        listed = {
            w["id"]: w["parameters"]
            for w in http.get(f"{API}/workflows", headers=user.headers).json()
        }
        sent = {
            "steps": 3,
            "cfg": 5.0,
            "seed": 1,
            "count": 1,
            "negative_prompt": "x",
            "loras": [{"name": "detail"}],
        }
        answers = {
            name: http.post(
                f"{API}/generate",
                headers=user.headers,
                json={"workflow": "no_sampler", "prompt": "a square", name: value},
            )
            for name, value in sent.items()
        }
    finally:
        http.delete(f"{API}/workflows/no_sampler", headers=admin.headers)

    assert set(listed["no_sampler"]) < set(listed["sd15_txt2img"])
    for name, response in answers.items():
        if name not in listed["no_sampler"]:
            assert_sentence(response, 400, "no_sampler")
    sd15 = set(listed["sd15_txt2img"])
    assert sd15 == {
        "aspect_ratio",
        "cfg",
        "count",
        "height",
        "loras",
        "negative_prompt",
        "prompt",
        "seed",
        "steps",
        "width",
    }
    assert not {"batch_size", "checkpoint", "sampler", "scheduler", "denoise"} & sd15


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a cat --cfg nan", ["Cfg must be a finite number"]),
        ("a cat --cfg inf", ["Cfg must be a finite number"]),
        ("a cat <lora:detail:50>", ["Strength of LoRA 'detail' 50", "maximum 10"]),
        ("a cat <lora:detail:1e3>", ["Strength of LoRA 'detail' 1000", "maximum 10"]),
        ("a cat --ar 0:1", ["zero side"]),
        ("a cat --size 99999x64", ["Width 99999", "maximum"]),
        ("a cat " + "x" * 4001, ["characters long"]),
    ],
    ids=["d6-nan", "d6-inf", "d9-lora-50", "d9-lora-1e3", "d5-aspect", "d5-size", "d4-long"],
)
def test_the_chat_refuses_the_same_values_with_a_sentence(
    http: httpx.Client, user: Account, comfy: ThreadedDouble, text: str, words: list
) -> None:
    total, prompts = job_total(http, user), len(comfy.double.prompts_received)

    reply = chat_reply(http, user, text, "comfyui.sd15_txt2img")

    assert reply.startswith("⚠️"), reply
    for word in words:
        assert word in reply, reply
    assert job_total(http, user) == total
    assert len(comfy.double.prompts_received) == prompts


# -- D10: listing cost independent of workflow size ------------------------------------


def big_graph(nodes: int) -> dict[str, Any]:
    graph = txt2img_prompt()
    for number in range(100, 100 + nodes):
        graph[str(number)] = {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": f"filler {number}", "clip": ["4", 1]},
        }
    return graph


def test_d10_listing_never_parses_an_uploaded_workflow_again(
    http: httpx.Client, admin: Account, user: Account, owui: OpenWebUIServer, monkeypatch: Any
) -> None:
    from comfyui_pipe.openwebui.store import workflow_store

    created = http.post(
        f"{API}/workflows", headers=admin.headers, json={"id": "huge", "workflow": big_graph(2000)}
    )
    assert created.status_code == 201, created.text
    parsed: list[str] = []
    real_parse = workflow_store.parse_workflow
    monkeypatch.setattr(
        workflow_store,
        "parse_workflow",
        lambda graph, workflow_id, meta: (
            parsed.append(workflow_id) or real_parse(graph, workflow_id, meta)
        ),
    )
    try:
        http.get(f"{API}/workflows", headers=user.headers).raise_for_status()
        parsed.clear()
        started = time.monotonic()
        for _ in range(5):
            listing = http.get(f"{API}/workflows", headers=user.headers)
        elapsed = time.monotonic() - started
    finally:
        http.delete(f"{API}/workflows/huge", headers=admin.headers)

    assert "huge" in {w["id"] for w in listing.json()}
    assert parsed == []
    assert elapsed < 5
