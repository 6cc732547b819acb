"""The scheduling bench's yardstick: the exact best whole-job schedule."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "best_schedule.py"
_SPEC = importlib.util.spec_from_file_location("best_schedule", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
best_schedule = importlib.util.module_from_spec(_SPEC)
sys.modules["best_schedule"] = best_schedule
_SPEC.loader.exec_module(best_schedule)
Kind = best_schedule.Kind


def test_identical_jobs_split_by_speed() -> None:
    jobs = [Kind("a", (1.0, 2.0))] * 3

    best = best_schedule.best_schedule(jobs, switch=0.0, holds=[None, None])

    # two on the fast server (2 s), one on the slow one (2 s)
    assert best.makespan == pytest.approx(2.0)


def test_a_switch_is_paid_once_per_checkpoint_a_server_does_not_hold() -> None:
    jobs = [Kind("a", (1.0, 1.0)), Kind("a", (1.0, 1.0)), Kind("b", (1.0, 1.0))]

    best = best_schedule.best_schedule(jobs, switch=5.0, holds=["a", "b"])

    assert (best.makespan, best.switches) == (pytest.approx(2.0), 0)


@pytest.mark.parametrize("seed", range(12))
def test_it_matches_trying_every_assignment_on_small_job_sets(seed: int) -> None:
    rng = random.Random(seed)
    servers = rng.randint(1, 3)
    paces = [rng.uniform(0.5, 3.0) for _ in range(servers)]
    jobs = [
        Kind(rng.choice("abc"), tuple(pace * steps for pace in paces))
        for steps in (rng.choice((1, 2, 4)) for _ in range(rng.randint(1, 6)))
    ]
    holds = [rng.choice(["a", "b", None]) for _ in range(servers)]
    switch = rng.choice((0.0, 1.5))

    best = best_schedule.best_schedule(jobs, switch, holds)

    assert best.makespan == pytest.approx(best_schedule.brute_force(jobs, switch, holds))
