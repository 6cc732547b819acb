"""The plan of one look at our queue, on fixed costs: where each job goes, when it
should end, who goes first."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from comfyui_pipe.generation import JobState
from comfyui_pipe.generation.costs import Estimate, Resident
from comfyui_pipe.generation.planner import Plan, plan
from comfyui_pipe.generation.records import QueuedJob
from comfyui_pipe.generation.scheduler import FairTurns

NOW = 100.0


def queued(job_id: str, owner: str = "alice", at: float = 0.0) -> QueuedJob:
    return QueuedJob(job_id, owner, at, JobState.QUEUED, "w", None, None)


def on(job_id: str, backend: str, running: bool = True) -> QueuedJob:
    state = JobState.RUNNING if running else JobState.QUEUED
    return QueuedJob(job_id, "bob", 0.0, state, "w", backend, "p")


@dataclass
class FixedCosts:
    """Seconds per job on each server (``pace[url]`` × the job's ``size``), loads of
    ``load[url]`` seconds per model the server does not hold."""

    pace: dict[str, float]
    size: dict[str, float] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)
    holds: dict[str, str] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    ran: dict[str, float] = field(default_factory=dict)

    def seconds(self, job: QueuedJob, url: str) -> float:
        return self.pace[url] * self.size.get(job.id, 1.0)

    def estimate(self, job: QueuedJob, url: str, resident: Resident) -> Estimate:
        missing = self.models(job) - resident.models
        return Estimate(self.load.get(url, 0.0) * len(missing), self.seconds(job, url))

    def models(self, job: QueuedJob) -> frozenset[str]:
        return frozenset([self.model[job.id]]) if job.id in self.model else frozenset()

    def resident(self, url: str) -> Resident:
        held = self.holds.get(url)
        return Resident((frozenset([held]),)) if held else Resident()

    def load_seconds(self, url: str, models: frozenset[str]) -> float:
        return self.load.get(url, 0.0) * len(models)

    def learnt(self, url: str) -> bool:
        return url not in self.unknown

    def elapsed(self, job: QueuedJob) -> float:
        return self.ran.get(job.id, 0.0)

    def work(self, job: QueuedJob) -> float:
        return self.size.get(job.id, 1.0)


def anywhere(job: QueuedJob, url: str) -> bool:
    return True


def planned(
    costs: FixedCosts,
    waiting: list[QueuedJob],
    held: list[QueuedJob] | None = None,
    horizon: float = 0.5,
    depth: int = 2,
    can_run=anywhere,
) -> Plan:
    return plan(waiting, held or [], list(costs.pace), can_run, costs, NOW, horizon, depth)


def sent(result: Plan) -> list[tuple[str, str]]:
    return [(placement.job_id, placement.backend) for placement in result.placements]


# -- models in memory --------------------------------------------------------------------


def test_a_job_goes_to_the_server_holding_its_model_when_that_ends_it_sooner() -> None:
    costs = FixedCosts(
        pace={"fast": 1.0, "holder": 2.0},
        model={"j": "sdxl"},
        load={"fast": 5.0, "holder": 5.0},
        holds={"holder": "sdxl"},
    )

    result = planned(costs, [queued("j")])

    # 2 s on the server holding it against 5 s of loading + 1 s on the faster one
    assert sent(result) == [("j", "holder")]
    assert result.expected["j"].end == NOW + 2.0


def test_a_job_goes_elsewhere_when_the_server_holding_its_model_would_end_it_later() -> None:
    costs = FixedCosts(
        pace={"fast": 1.0, "holder": 2.0},
        model={"j": "sdxl", "long": "sdxl"},
        load={"fast": 2.0, "holder": 2.0},
        holds={"holder": "sdxl"},
        ran={"long": 0.0},
    )
    costs.size["long"] = 10.0  # 20 s on the holder, just started

    result = planned(costs, [queued("j")], held=[on("long", "holder")])

    assert sent(result) == [("j", "fast")]
    assert result.expected["j"].end == NOW + 2.0 + 1.0  # loading, then its run


def test_jobs_of_one_model_follow_each_other_on_a_server_instead_of_switching() -> None:
    costs = FixedCosts(
        pace={"a": 1.0, "b": 1.0},
        model={"x1": "x", "y1": "y", "x2": "x"},
        load={"a": 3.0, "b": 3.0},
        holds={"a": "x", "b": "y"},
    )

    result = planned(costs, [queued("x1"), queued("y1"), queued("x2")], depth=1)

    assert result.expected["x1"].backend == result.expected["x2"].backend == "a"
    assert result.expected["y1"].backend == "b"


def test_a_server_is_not_taken_from_a_model_the_next_jobs_need_that_none_other_holds() -> None:
    # each server holds its own model; a run of "a" jobs comes first. Switching the
    # fast "c" server to "a" pays; then switching the fast "b" one too would end a1 a
    # little sooner, but evicts the only "b", which b0 needs: a1 waits for the first.
    costs = FixedCosts(
        pace={"fast-c": 1.0, "fast-b": 1.2, "slow-a": 6.0},
        model={"a0": "a", "a1": "a", "a2": "a", "b0": "b"},
        load={"fast-c": 2.0, "fast-b": 2.0, "slow-a": 2.0},
        holds={"fast-c": "c", "fast-b": "b", "slow-a": "a"},
    )
    waiting = [queued("a0"), queued("a1"), queued("a2"), queued("b0")]

    result = planned(costs, waiting, depth=1)

    assert [result.expected[f"a{n}"].backend for n in range(3)] == ["fast-c"] * 3
    assert result.expected["b0"].backend == "fast-b"


# -- no idle server ----------------------------------------------------------------------


def test_a_fast_idle_server_takes_a_job_while_a_slow_one_is_busy() -> None:
    costs = FixedCosts(pace={"slow": 8.0, "fast": 1.0}, ran={"r": 1.0})

    result = planned(costs, [queued(f"j{n}") for n in range(4)], held=[on("r", "slow")])

    assert ("j0", "fast") in sent(result)


Instance = tuple[FixedCosts, list[QueuedJob], list[QueuedJob]]
"""The costs, the waiting jobs in fair-turn order, the jobs on the servers."""


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    """Servers of random paces, some busy, and jobs of three users in fair-turn order."""
    servers = draw(st.integers(1, 4))
    pace = {f"s{n}": draw(st.floats(0.1, 10.0)) for n in range(servers)}
    jobs = draw(st.integers(1, 12))
    owners = ["alice", "bob", "carol"]
    waiting = [queued(f"j{n}", draw(st.sampled_from(owners)), n) for n in range(jobs)]
    sizes = {job.id: draw(st.floats(0.5, 4.0)) for job in waiting}
    held = [on(f"h{n}", url) for n, url in enumerate(pace) if draw(st.booleans())]
    ran = {job.id: draw(st.floats(0.0, 5.0)) for job in held}
    return FixedCosts(pace, sizes, ran=ran), FairTurns().order(waiting), held


@given(instances(), st.floats(0.0, 3.0))
def test_no_server_idles_while_a_job_it_would_run_fastest_waits(
    instance: Instance, horizon: float
) -> None:
    costs, order, held = instance

    result = planned(costs, order, held, horizon=horizon)

    busy = {job.backend for job in held} | {p.backend for p in result.placements}
    still_waiting = [job for job in order if job.id not in {p.job_id for p in result.placements}]
    for url in set(costs.pace) - busy:
        for job in still_waiting:
            fastest = min(costs.seconds(job, other) for other in costs.pace)
            assert costs.seconds(job, url) > fastest, (url, job.id)


# -- fair turns --------------------------------------------------------------------------


@given(instances(), st.floats(0.0, 3.0))
def test_on_every_server_jobs_start_in_their_owners_turns(
    instance: Instance, horizon: float
) -> None:
    costs, order, held = instance
    turn = {job.id: index for index, job in enumerate(order)}

    result = planned(costs, order, held, horizon=horizon)

    for url in costs.pace:
        here = sorted(
            (expected.start, turn[job_id])
            for job_id, expected in result.expected.items()
            if expected.backend == url and job_id in turn
        )
        assert [index for _, index in here] == sorted(index for _, index in here)
    # nobody's job is left out of the plan: each gets a place and an end
    assert set(turn) <= set(result.expected)


def test_a_second_users_first_job_is_among_the_first_to_go_however_long_the_first_batch() -> None:
    costs = FixedCosts(pace={"fast": 1.0, "slow": 2.0})
    batch = [queued(f"a{n}", "alice", n) for n in range(12)]
    order = FairTurns().order([*batch, queued("b0", "bob", 20)])

    result = planned(costs, order, horizon=0.0)

    assert [job.id for job in order][:2] == ["a0", "b0"]
    assert [p.job_id for p in result.placements] == ["a0", "b0"]
    assert result.places([job.id for job in order])["a1"] == 1


# -- depth in seconds --------------------------------------------------------------------


def test_a_server_takes_a_pending_job_only_when_its_work_ends_within_the_horizon() -> None:
    costs = FixedCosts(pace={"a": 1.0, "b": 1.0}, ran={"soon": 0.8, "later": 0.0})

    result = planned(
        costs, [queued(f"j{n}") for n in range(3)], [on("soon", "a"), on("later", "b")]
    )

    # "a" ends its job in 0.2 s: it takes the next, hiding the hand-off; "b" runs 1 s
    # more: the job after it waits in our queue, in line
    assert sent(result) == [("j0", "a")]
    assert result.expected["j1"].backend == "b"
    assert result.expected["j1"].end == NOW + 2.0


def test_short_jobs_fill_a_server_up_to_its_depth_within_the_horizon() -> None:
    costs = FixedCosts(pace={"gpu": 0.1})

    assert len(planned(costs, [queued(f"j{n}") for n in range(6)], depth=4).placements) == 4
    assert len(planned(costs, [queued(f"j{n}") for n in range(6)], depth=2).placements) == 2


def test_the_plan_says_when_each_job_should_end_and_what_runs_before_it() -> None:
    costs = FixedCosts(pace={"gpu": 2.0}, ran={"r": 0.5})

    result = planned(costs, [queued(f"j{n}") for n in range(3)], [on("r", "gpu")], depth=1)

    assert [(result.expected[f"j{n}"].end, result.expected[f"j{n}"].ahead) for n in range(3)] == [
        (NOW + 3.5, 1),
        (NOW + 5.5, 2),
        (NOW + 7.5, 3),
    ]
    assert result.places(["j0", "j1", "j2"]) == {"j0": 1, "j1": 2, "j2": 3}


def test_a_job_only_goes_where_it_can_run() -> None:
    costs = FixedCosts(pace={"gpu-1": 1.0, "gpu-2": 0.1})

    result = planned(
        costs, [queued(f"j{n}") for n in range(3)], can_run=lambda job, url: url == "gpu-1"
    )

    assert {placement.backend for placement in result.placements} == {"gpu-1"}


# -- servers not tried yet ---------------------------------------------------------------


def test_servers_that_ran_nothing_take_one_job_each_until_they_have() -> None:
    costs = FixedCosts(pace={"a": 1.0, "b": 1.0, "c": 1.0}, unknown={"a", "b", "c"})

    result = planned(costs, [queued(f"j{n}", f"user{n}", n) for n in range(5)])

    assert sent(result) == [("j0", "a"), ("j1", "b"), ("j2", "c")]
    # a single server keeps its depth
    alone = FixedCosts(pace={"a": 1.0}, unknown={"a"})
    assert len(planned(alone, [queued(f"j{n}") for n in range(5)]).placements) == 2


def test_a_new_server_is_tried_with_the_least_work_of_that_users_waiting_jobs() -> None:
    costs = FixedCosts(
        pace={"new": 1.0, "known": 1.0},
        size={"long0": 10, "long1": 10, "short": 1},
        unknown={"new"},
    )
    waiting = [queued("long0"), queued("long1"), queued("short")]

    assert sent(planned(costs, waiting, horizon=0.0)) == [("short", "new"), ("long0", "known")]


def test_trying_a_new_server_never_jumps_another_users_turn() -> None:
    costs = FixedCosts(pace={"new": 1.0, "known": 1.0}, size={"a": 10, "b": 1}, unknown={"new"})

    result = planned(costs, [queued("a", "alice"), queued("b", "bob")])

    assert [p.job_id for p in result.placements] == ["a", "b"]
