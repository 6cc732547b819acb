"""Our own queue in front of ComfyUI: fair between users, model-aware, bounded per
server, moving jobs off a dead server."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

import pytest
from comfyui_double import ComfyDouble
from conftest import MODELS, FolderSink, MemoryJobStore, ServiceFactory
from test_generation_service import ProgressLog, ask, prompts_posted

from comfyui_pipe.generation import JobState, Policy
from comfyui_pipe.generation.handoff import HandOff
from comfyui_pipe.generation.records import QueuedJob
from comfyui_pipe.generation.scheduler import FairTurns


def queued(job_id: str, owner: str, at: float, backend: str | None = None) -> QueuedJob:
    dispatched = backend is not None
    state = JobState.RUNNING if dispatched else JobState.QUEUED
    return QueuedJob(job_id, owner, at, state, "w", backend, "p" if dispatched else None)


def test_users_with_waiting_jobs_take_turns() -> None:
    jobs = [queued(f"a{n}", "alice", n) for n in range(4)] + [queued("b0", "bob", 10)]
    assert [job.id for job in FairTurns().order(jobs)] == ["a0", "b0", "a1", "a2", "a3"]


def test_a_user_with_jobs_on_comfyui_waits_behind_one_without() -> None:
    jobs = [
        queued("a0", "alice", 0, backend="gpu"),
        queued("a1", "alice", 1),
        queued("b0", "bob", 2),
    ]
    assert [job.id for job in FairTurns().order(jobs)] == ["b0", "a1"]


def test_a_heavier_group_gets_more_turns() -> None:
    jobs = [queued(f"a{n}", "alice", n) for n in range(4)] + [
        queued(f"v{n}", "vip", 10 + n) for n in range(4)
    ]
    order = FairTurns().order(jobs, weight=lambda owner: 2 if owner == "vip" else 1)
    assert [job.id for job in order][:6] == ["a0", "v0", "v1", "a1", "v2", "v3"]


def one_at_a_time(jobs: list[QueuedJob], weight=lambda owner: 1.0) -> list[str]:
    """Whose job leaves the queue each time a server running one job at a time frees."""
    turns, waiting, served = FairTurns(), list(jobs), []
    while waiting:
        job = turns.order(waiting, weight)[0]
        turns.served(job, weight(job.owner_id))
        waiting.remove(job)  # ran and ended before the next look
        served.append(job.owner_id)
    return served


def test_users_take_turns_even_when_every_job_ends_before_the_next_leaves() -> None:
    jobs = [queued(f"a{n}", "alice", n) for n in range(3)]
    jobs += [queued(f"b{n}", "bob", 10 + n) for n in range(3)]
    assert one_at_a_time(jobs) == ["alice", "bob"] * 3


def test_a_user_weighing_three_gets_three_turns_to_anothers_one() -> None:
    jobs = [queued(f"a{n}", "alice", n) for n in range(4)]
    jobs += [queued(f"v{n}", "vip", 10 + n) for n in range(9)]
    order = one_at_a_time(jobs, weight=lambda owner: 3.0 if owner == "vip" else 1.0)
    assert order[:8] == ["alice", "vip", "vip", "vip", "alice", "vip", "vip", "vip"]


def test_a_user_who_waited_for_nothing_has_saved_up_no_turns() -> None:
    turns = FairTurns()
    for n in range(5):  # alice alone: five of her jobs leave the queue
        alone = queued(f"a{n}", "alice", n)
        turns.served(alone, 1.0)
    jobs = [queued(f"a{n}", "alice", n) for n in range(5, 8)]
    jobs += [queued(f"b{n}", "bob", 10 + n) for n in range(3)]
    order = [job.owner_id for job in turns.order(jobs)]
    # bob has had no turn yet: his first; then they alternate (not bob five times)
    assert order == ["bob", "alice"] * 3


async def test_a_fast_server_gets_the_jobs_a_slow_one_would_hoard(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    slow = await comfy_double_factory(models=MODELS, step_seconds=0.2)
    fast = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    service = await make_service([slow.url, fast.url], Policy(jobs_per_user=8))

    records = [await service.start(ask(f"a cat #{n} --steps 5")) for n in range(8)]
    for record in records:
        assert (await service.wait(record.id)).state is JobState.COMPLETED

    # the slow server runs one job (while its speed is unknown); the fast one the rest
    assert prompts_posted(slow) <= 2
    assert prompts_posted(fast) >= 6


async def prompts_on(double: ComfyDouble, count: int) -> None:
    """Until ``count`` prompts have reached ComfyUI (our queue sends them on its own time)."""
    async with asyncio.timeout(10):
        while len(double.prompts_received) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_a_second_users_job_is_not_stuck_behind_a_first_users_batch(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    service = await make_service([double.url], Policy(jobs_per_user=8))
    batch = [await service.start(ask(f"a cat #{n} --steps 5")) for n in range(5)]
    await prompts_on(double, 2)
    single = await service.start(ask("a dog --steps 5", owner="bob"))

    for record in [*batch, single]:
        assert (await service.wait(record.id)).state is JobState.COMPLETED

    order = [body["prompt_id"] for body in double.prompts_received]
    # one running and one pending on ComfyUI when bob asked: his job is next
    assert order.index((await service.wait(single.id)).prompt_id) == 2


async def test_a_waiting_job_shows_its_place_in_our_queue(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.05)
    service = await make_service([double.url], Policy(jobs_per_user=8, server_depth=1))
    first = await service.start(ask("a cat --steps 10"))
    await prompts_on(double, 1)
    for n in range(2):
        await service.start(ask(f"a cat #{n} --steps 2"))
    progress = ProgressLog()
    carols = await service.start(ask("a dog --steps 2", owner="carol"), progress)

    assert (await service.wait(carols.id)).state is JobState.COMPLETED
    lines = [snapshot.describe() for snapshot in progress.snapshots]
    # three wait in our queue; carol has nothing on ComfyUI yet, alice has one: carol
    # first, after alice's running job (its time a guess: nothing has ended there yet)
    assert lines[0].startswith("Queued (#1 of 3) · ~")
    assert lines[0].endswith(" s, after 1 job")
    assert (await service.wait(first.id)).state is JobState.COMPLETED


async def test_a_job_never_lands_on_a_server_without_its_model(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore
) -> None:
    without = await comfy_double_factory(models={"checkpoints": ["other.safetensors"]})
    with_model = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    service = await make_service([without.url, with_model.url], Policy(jobs_per_user=6))

    records = [await service.start(ask(f"a cat #{n} --steps 3")) for n in range(6)]

    for record in records:
        done = await service.wait(record.id)
        assert (done.state, done.backend) == (JobState.COMPLETED, with_model.url)
    assert prompts_posted(without) == 0


async def test_a_job_pending_on_a_server_that_dies_moves_to_another(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, monkeypatch
) -> None:
    # long jobs, each server with a pending one however long its running job has left;
    # the dying one clearly faster, so that it holds two of the four (its speed is learnt
    # from one short job: on a busy machine, two servers alike could be told apart wrongly)
    monkeypatch.setattr(HandOff, "horizon", 60.0)
    dying = await comfy_double_factory(models=MODELS, step_seconds=0.03)
    staying = await comfy_double_factory(models=MODELS, step_seconds=0.06)
    service = await make_service([dying.url, staying.url], Policy(jobs_per_user=4))
    # one job each first: a server takes a pending job once its speed is known
    warming = [await service.start(ask(f"a dog #{n} --steps 2")) for n in range(2)]
    for record in warming:
        await service.wait(record.id)
    started = [await service.start(ask(f"a cat #{n} --steps 30")) for n in range(4)]
    async with asyncio.timeout(10):
        # the double's queue has no event to await
        while not dying.running or len(dying.queue_pending) != 1:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    pending_id = dying.queue_pending[0][1]
    pending = next(record for record in started if service.live(record.id).prompt_id == pending_id)

    await dying.__aexit__(None, None, None)

    moved = await service.wait(pending.id)
    assert (moved.state, moved.backend) == (JobState.COMPLETED, staying.url)
    assert store.records[pending.id].output_file_ids == moved.output_file_ids != []


async def test_a_job_a_server_refuses_with_503_goes_to_another_instead_of_failing(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    refusing = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    healthy = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    refusing.faults.failing_routes["/prompt"] = 503  # a proxy in front of a starting ComfyUI
    service = await make_service([refusing.url, healthy.url], Policy(jobs_per_user=4))

    # both servers are new: one job each, so one of them is refused
    records = [await service.start(ask(f"a cat #{n} --steps 2")) for n in range(2)]

    for record in records:
        ended = await service.wait(record.id)
        assert (ended.state, ended.backend) == (JobState.COMPLETED, healthy.url)
    assert any(r.method == "POST" and r.path == "/prompt" for r in refusing.requests)


async def test_a_job_started_while_the_dispatcher_reads_the_queue_is_not_dropped(
    comfy_double_factory, make_service: ServiceFactory, store: MemoryJobStore, monkeypatch
) -> None:
    # The dispatcher's look at the shared queue can predate a job started meanwhile: that
    # job is not in it, and must not be taken for one that ended elsewhere.
    double = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    service = await make_service([double.url], Policy(jobs_per_user=16, server_depth=1))
    read = store.unfinished

    async def slow_read() -> list[QueuedJob]:
        jobs = await read()
        await asyncio.sleep(0.02)  # other requests start jobs meanwhile
        return jobs

    monkeypatch.setattr(store, "unfinished", slow_read)
    records = await asyncio.gather(*(service.start(ask(f"a cat #{n} --steps 2")) for n in range(8)))

    async with asyncio.timeout(30):
        for record in records:
            assert (await service.wait(record.id)).state is JobState.COMPLETED


async def test_a_server_takes_its_next_job_while_the_last_ones_outputs_are_stored(
    comfy_double_factory, make_service: ServiceFactory, sink: FolderSink, monkeypatch
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.01)
    service = await make_service([double.url], Policy(jobs_per_user=2, server_depth=1))
    save = sink.save

    async def slow_save(*args: object, **kwargs: object) -> object:
        await asyncio.sleep(0.5)
        return await save(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sink, "save", slow_save)
    first = await service.start(ask("a cat --steps 2"))
    second = await service.start(ask("a dog --steps 2"))

    first, second = await service.wait(first.id), await service.wait(second.id)
    assert first.finished_at is not None and second.started_at is not None
    assert second.started_at < first.finished_at


async def test_two_users_batches_take_turns_on_one_server_running_one_job_at_a_time(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    service = await make_service([double.url], Policy(jobs_per_user=8, server_depth=1))
    alices = [await service.start(ask(f"a cat #{n} --steps 3")) for n in range(3)]
    bobs = [await service.start(ask(f"a dog #{n} --steps 3", owner="bob")) for n in range(3)]

    ended = [await service.wait(record.id) for record in [*alices, *bobs]]

    assert {record.state for record in ended} == {JobState.COMPLETED}
    owner = {record.prompt_id: record.owner_id for record in ended}
    order = [owner[body["prompt_id"]] for body in double.prompts_received]
    assert order == ["alice", "bob"] * 3


class BrokenWeights:
    async def weights(self, owner_ids: Collection[str]) -> Mapping[str, float]:
        raise RuntimeError("the groups table is unreadable")


async def test_weights_that_cannot_be_read_leave_everyone_taking_turns(
    comfy_double_factory, make_service: ServiceFactory
) -> None:
    double = await comfy_double_factory(models=MODELS, step_seconds=0.02)
    policy = Policy(jobs_per_user=8, server_depth=1)
    service = await make_service([double.url], policy, weights=BrokenWeights())
    alices = [await service.start(ask(f"a cat #{n} --steps 3")) for n in range(2)]
    bobs = [await service.start(ask(f"a dog #{n} --steps 3", owner="bob")) for n in range(2)]

    ended = [await service.wait(record.id) for record in [*alices, *bobs]]

    assert {record.state for record in ended} == {JobState.COMPLETED}
    owner = {record.prompt_id: record.owner_id for record in ended}
    assert [owner[body["prompt_id"]] for body in double.prompts_received] == ["alice", "bob"] * 2


@pytest.mark.parametrize("blocker_ended", [False, True], ids=["running", "ended"])
def test_after_the_queue_was_empty_nobody_is_behind_for_what_they_had_before(
    blocker_ended: bool,
) -> None:
    turns = FairTurns()
    for n in range(3):  # bob alone earlier: three jobs left the queue
        turns.served(queued(f"b{n}", "bob", 90 + n), 1.0)
    turns.idle()  # nothing left to run; then alice's job starts at once
    (blocker,) = turns.order([queued("a0", "alice", 150)])
    turns.served(blocker, 1.0)
    waiting = [] if blocker_ended else [queued("a0", "alice", 150, backend="gpu")]
    waiting += [queued("a1", "alice", 152), queued("a2", "alice", 153)]
    waiting += [queued("b3", "bob", 160), queued("b4", "bob", 161)]

    # bob's earlier jobs count for nothing now: alice just had one, so bob is next, whether
    # her job still runs or ended before the next look
    assert [job.id for job in turns.order(waiting)] == ["b3", "a1", "b4", "a2"]


def test_jobs_that_wait_through_the_look_keep_the_turns_they_had() -> None:
    turns = FairTurns()
    turns.served(queued("a0", "alice", 10), 1.0)
    # a long job ran; bob's job waited all along, alice asked again
    waiting = [queued("b0", "bob", 50), queued("a1", "alice", 150)]

    assert [job.id for job in turns.order(waiting)] == ["b0", "a1"]
