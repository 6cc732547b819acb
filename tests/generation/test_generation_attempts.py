"""A job that ComfyUI loses while it runs (a restart, a crash) is run again, first in our
queue, with the same graph and seed, until the admin's number of attempts runs out: its
user reads that it runs again, its outputs are stored once."""

from __future__ import annotations

import pytest
from comfyui_double import ComfyDouble
from conftest import FAST, MODELS, FolderSink, MemoryJobStore, ServiceFactory
from test_generation_service import ProgressLog, ask

from comfyui_pipe.generation import BackendPool, Failure, FailureKind, JobState, Policy
from comfyui_pipe.generation import dispatcher as dispatcher_module
from comfyui_pipe.openwebui.presenter import describe_failure


def seeds_and_sizes(double: ComfyDouble) -> list[tuple[object, object]]:
    """(seed, width) of every prompt the double was sent, in order."""
    found = []
    for prompt in double.prompts_received:
        graph = prompt["prompt"]
        sampler = next(node for node in graph.values() if "seed" in node["inputs"])
        latent = next(node for node in graph.values() if "width" in node["inputs"])
        found.append((sampler["inputs"]["seed"], latent["inputs"]["width"]))
    return found


async def test_a_job_comfyui_restarted_under_runs_again_and_completes_once(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, sink: FolderSink
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    service = await make_service([double.url], Policy(jobs_per_user=2, server_depth=1))
    progress = ProgressLog()
    record = await service.start(ask("a lighthouse --steps 12"), progress)
    behind = await service.start(ask("a harbour --steps 2"))
    await progress.wait_sampling()

    assert await double.restart_mid_job(down_for=0.3)
    ended = await service.wait(record.id)
    second = await service.wait(behind.id)

    assert (ended.state, second.state) == (JobState.COMPLETED, JobState.COMPLETED)
    assert (ended.attempt, second.attempt) == (2, 1)
    [first_run, rerun, _] = seeds_and_sizes(double)
    assert first_run == rerun  # the same graph and seed, and before the job behind it
    assert len(ended.output_file_ids) == 1
    assert sorted(saved.job_id for saved in sink.saved) == sorted([record.id, behind.id])
    lines = [snapshot.describe() for snapshot in progress.snapshots]
    assert "ComfyUI restarted — running again (attempt 2 of 3)" in lines, lines
    again = lines.index("ComfyUI restarted — running again (attempt 2 of 3)")
    assert any(line.startswith("Sampling ") for line in lines[:again])
    assert any(
        line.startswith("Sampling ") and line.endswith(" · attempt 2 of 3")
        for line in lines[again:]
    ), lines
    assert store.records[record.id].attempt == 2


async def test_a_job_lost_in_each_of_its_attempts_fails_and_says_so(
    comfy_double_factory, make_service: ServiceFactory, sink: FolderSink
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    service = await make_service([double.url], Policy(max_attempts=2))
    record = await service.start(ask("a lighthouse --steps 40"))

    for _ in range(2):
        assert await double.restart_mid_job()
    ended = await service.wait(record.id)

    assert ended.state is JobState.FAILED
    assert ended.failure == Failure(FailureKind.LOST, attempts=2)
    assert describe_failure(ended.failure) == (
        "ComfyUI restarted or crashed during each of this job's 2 attempts; it was given up."
    )
    assert len(double.prompts_received) == 2 and sink.saved == []


async def test_one_attempt_allowed_fails_at_the_first_loss(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    service = await make_service([double.url], Policy(max_attempts=1))
    record = await service.start(ask("a lighthouse --steps 40"))

    assert await double.restart_mid_job()
    ended = await service.wait(record.id)

    assert ended.failure == Failure(FailureKind.LOST, attempts=1)
    assert describe_failure(ended.failure) == "ComfyUI restarted and lost this job."


async def test_a_job_whose_server_crashed_for_good_runs_again_on_another(
    comfy_double_factory,
    make_service: ServiceFactory,
    sink: FolderSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dispatcher_module, "RUN_LOST_AFTER", 0.5)
    crashing = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    service = await make_service([crashing.url], Policy())
    progress = ProgressLog()
    record = await service.start(ask("a lighthouse --steps 40"), progress)
    await progress.wait_sampling()
    other = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    service.reconfigure(pool=BackendPool([crashing.url, other.url], timeouts=FAST))

    await crashing.__aexit__(None, None, None)
    ended = await service.wait(record.id)

    assert (ended.state, ended.attempt) == (JobState.COMPLETED, 2)
    assert len(other.prompts_received) == 1 and len(sink.saved) == 1
