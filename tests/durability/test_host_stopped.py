"""A ``comfyui-pipe serve`` process stopped in the middle of a chat generation — SIGTERM
(``docker stop``, a rolling update) or SIGKILL — while another process runs on the same
data: a graceful stop answers the chat at once and exits within seconds, leaving the job
to the other process; that one shows the job's live steps in the chat message as soon as
it adopts it, and finishes it, exactly once; nothing logs a task exception nobody awaited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from default_models import DEFAULT_MODELS
from openwebui.harness import ThreadedDouble

from .handover import (
    ChatJob,
    signed_up_admin,
    stopped_mid_sampling,
    unretrieved_tasks,
)
from .hosts import Host, running_pair


@pytest.fixture
def comfy() -> Iterator[ThreadedDouble]:
    with ThreadedDouble(models=DEFAULT_MODELS, step_seconds=0.25) as double:
        yield double


@pytest.fixture
def hosts(comfy: ThreadedDouble, tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    with running_pair(comfy.url, tmp_path) as pair:
        yield pair


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
async def test_the_other_process_shows_the_steps_of_the_chat_job_it_adopts_and_finishes_it(
    hosts: tuple[Host, Host], comfy: ThreadedDouble, stop: str
) -> None:
    stopped, other = hosts
    admin = signed_up_admin(stopped)
    await stopped_mid_sampling(stopped, other, admin, stop, ChatJob("a lighthouse --steps 48"))
    assert len(comfy.double.prompts_received) == 1  # handed over, not run again
    assert unretrieved_tasks(stopped, other) == []
