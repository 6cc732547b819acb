"""The plan seen from outside: the ETA a waiting job shows, what admins see of a server."""

from __future__ import annotations

import time

from conftest import MODELS, ServiceFactory
from test_generation_queue import prompts_on
from test_generation_service import ProgressLog, ask

from comfyui_pipe.generation import JobState, Policy


async def test_a_waiting_job_shows_when_it_should_end_and_that_is_about_when_it_does(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.03)
    service = await make_service([double.url], Policy(jobs_per_user=8, server_depth=1))
    for n in range(2):  # the server's pace and the model's loading are learnt
        await service.wait((await service.start(ask(f"a cat #{n} --steps 4"))).id)
    ahead = [await service.start(ask(f"a cat #{n} --steps 8")) for n in range(2, 4)]
    await prompts_on(double, 3)
    progress = ProgressLog()
    queued_at = time.monotonic()
    mine = await service.start(ask("a dog --steps 8", owner="bob"), progress)

    assert (await service.wait(mine.id)).state is JobState.COMPLETED
    took = time.monotonic() - queued_at
    first = next(s for s in progress.snapshots if s.eta_seconds is not None)
    # alice's first job runs; bob's turn comes before her second
    assert first.describe().startswith("Queued (#1 of 2) · ~")
    assert first.describe().endswith("after 1 job")
    assert 0.4 * took <= first.eta_seconds <= 2.5 * took
    for record in ahead:
        await service.wait(record.id)


async def test_admins_see_what_each_server_has_shown_and_holds(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    service = await make_service([double.url], Policy(jobs_per_user=2))
    await service.wait((await service.start(ask("a cat --steps 5"))).id)

    [health] = await service.health()

    assert health.learnt is not None
    [speed] = health.learnt.workflows
    assert (speed.workflow, speed.runs) == ("sd15_txt2img", 1)
    assert speed.seconds_per_step is not None and speed.seconds_per_step > 0
    assert any(model.endswith(MODELS["checkpoints"][0]) for model in health.learnt.resident)
    assert set(health.learnt.load_seconds) == set(health.learnt.resident)
