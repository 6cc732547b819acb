"""On a real ComfyUI: a ``comfyui-pipe serve`` process SIGTERM'd or SIGKILL'd while its
chat job samples, another process on the same data: the SIGTERM'd one exits within
seconds; the other shows the job's live 'Sampling n/N' in its message within 2 s of
adopting it and finishes it, run once on ComfyUI; neither logs a task exception nobody
awaited. (The double's twin, with more steps: test_host_stopped.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from comfyui_real import RealComfyUI
from openwebui.real_comfyui import REAL_TIMEOUT, prompt_ids_with_text, small_sd15_model

from .handover import (
    ChatJob,
    signed_up_admin,
    stopped_mid_sampling,
    unretrieved_tasks,
)
from .hosts import Host, running_pair

pytestmark = [pytest.mark.real_comfyui, pytest.mark.timeout(600)]


@pytest.fixture
def hosts(real_comfyui: RealComfyUI, tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    with running_pair(real_comfyui.url, tmp_path) as pair:
        yield pair


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
async def test_a_real_chat_job_handed_over_mid_sampling_shows_its_steps_and_finishes(
    hosts: tuple[Host, Host], real_comfyui: RealComfyUI, stop: str
) -> None:
    stopped, other = hosts
    admin = signed_up_admin(stopped)
    text = f"a lighthouse handed over on {stop}"
    with (
        httpx.Client(base_url=stopped.url, timeout=30) as http,
        small_sd15_model(http, admin, admin) as model,
    ):
        chat = ChatJob(f"{text} --steps 12 --seed 9601", model, timeout=REAL_TIMEOUT)
        try:
            await stopped_mid_sampling(stopped, other, admin, stop, chat)
        finally:
            http.base_url = httpx.URL(other.url)  # the workflow is removed through the one left
    assert len(prompt_ids_with_text(real_comfyui, "history", text)) == 1  # not run again
    assert unretrieved_tasks(stopped, other) == []
