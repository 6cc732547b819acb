"""Servers' speeds learnt from the jobs they ran."""

from __future__ import annotations

import pytest

from comfyui_pipe.generation.speeds import SMOOTHING, ServerSpeeds


def test_a_server_is_unknown_until_it_ran_a_jobs_steps() -> None:
    speeds = ServerSpeeds()
    assert speeds.seconds("gpu", 10) is None

    speeds.observe("gpu", 0.1)

    assert speeds.seconds("gpu", 10) == pytest.approx(1.0)
    assert speeds.seconds("gpu", 0) == pytest.approx(0.1)  # no sampler: one step


def test_a_server_that_slows_down_is_seen_doing_so() -> None:
    speeds = ServerSpeeds()
    speeds.observe("gpu", 0.1)
    speeds.observe("gpu", 0.3)

    assert speeds.seconds("gpu", 10) == pytest.approx(10 * (0.1 + SMOOTHING * 0.2))
