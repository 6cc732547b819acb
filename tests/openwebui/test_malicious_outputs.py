"""Issue 18, item 7, through the real Open WebUI: a ComfyUI (or a custom node) that reports
any file name with any bytes never gets a file of ours served as HTML or SVG. An output
whose bytes are not a kept image, video or audio format fails its job with a sentence and
nothing reaches Files; a real image ComfyUI calls ``x.html`` is stored as what its bytes
are; an output over the admin's size limit fails its job. The double runs in its
malicious mode (``Faults.forged_outputs``)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from comfyui_double import HTML_PAGE as HTML
from comfyui_double import SVG_IMAGE as SVG
from comfyui_double import ForgedOutput

from openwebui.harness import Account, ThreadedDouble
from openwebui.test_api_jobs import finished, png_bytes, started

API = "/api/v1/comfyui"
FILES = "/api/v1/files"


def png() -> bytes:
    return png_bytes("purple")


def files_total(http: httpx.Client, account: Account) -> int:
    response = http.get(f"{FILES}/", headers=account.headers, params={"content": False})
    response.raise_for_status()
    return int(response.json()["total"])


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [("evil.html", HTML, "text/html"), ("evil.svg", SVG, "image/svg+xml")],
)
def test_an_html_or_svg_file_comfyui_reports_fails_the_job_and_nothing_reaches_files(
    http: httpx.Client,
    admin: Account,
    comfy: ThreadedDouble,
    name: str,
    data: bytes,
    content_type: str,
) -> None:
    before = files_total(http, admin)
    comfy.double.faults.forged_outputs = [ForgedOutput(name, data, content_type=content_type)]

    job = finished(http, admin, started(http, admin, prompt="a cat", steps=2)["id"])

    assert job["state"] == "failed", job
    assert job["error"].startswith(f"ComfyUI returned '{name}', which is not an image, video")
    assert job["error"].endswith("; nothing was stored."), job["error"]
    assert job["output_file_ids"] == []
    assert files_total(http, admin) == before


def test_a_real_image_next_to_a_refused_file_is_not_kept_either(
    http: httpx.Client, user: Account, comfy: ThreadedDouble
) -> None:
    before = files_total(http, user)
    comfy.double.faults.forged_outputs = [ForgedOutput("a.png", png()), ForgedOutput("b.htm", HTML)]

    job = finished(http, user, started(http, user, prompt="a cat", steps=2)["id"])

    assert job["state"] == "failed" and "'b.htm'" in job["error"], job
    assert files_total(http, user) == before


@pytest.mark.parametrize("name", ["x.html", "x.svg"])
def test_a_png_comfyui_calls_html_or_svg_is_stored_and_served_as_a_png(
    http: httpx.Client, admin: Account, comfy: ThreadedDouble, name: str
) -> None:
    # an admin's file: the one kind Open WebUI also serves inline at /content/html
    comfy.double.faults.forged_outputs = [ForgedOutput(name, png(), content_type="text/html")]

    job = finished(http, admin, started(http, admin, prompt="a cat", steps=2)["id"])

    assert job["state"] == "completed", job
    [file_id] = job["output_file_ids"]
    stored = http.get(f"{FILES}/{file_id}", headers=admin.headers).json()
    assert (stored["filename"], stored["meta"]["content_type"]) == ("x.png", "image/png")
    for path in ("content", "content/html"):
        served = http.get(f"{FILES}/{file_id}/{path}", headers=admin.headers)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png", path
        assert served.content == png()


@pytest.fixture
def output_limit(http: httpx.Client, admin: Account) -> Iterator[int]:
    limit = 2**20
    before = http.get(f"{API}/settings", headers=admin.headers).json()["max_output_bytes"]
    http.put(
        f"{API}/settings", headers=admin.headers, json={"max_output_bytes": limit}
    ).raise_for_status()
    yield limit
    http.put(
        f"{API}/settings", headers=admin.headers, json={"max_output_bytes": before}
    ).raise_for_status()


def test_an_output_over_the_admins_size_limit_fails_the_job_with_a_sentence(
    http: httpx.Client, user: Account, comfy: ThreadedDouble, output_limit: int
) -> None:
    before = files_total(http, user)
    comfy.double.faults.forged_outputs = [ForgedOutput("big.png", png(), size=16 * output_limit)]

    job = finished(http, user, started(http, user, prompt="a cat", steps=2)["id"])

    assert job["state"] == "failed", job
    assert job["error"] == (
        "ComfyUI returned 'big.png', larger than the 1 MiB one output may have here; "
        "nothing was stored."
    )
    assert files_total(http, user) == before
