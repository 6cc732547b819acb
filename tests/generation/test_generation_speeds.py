"""Servers' speeds learnt from the jobs they ran."""

from __future__ import annotations

import pytest

from comfyui_pipe.generation.speeds import FIXED_STEPS, SMOOTHING, ServerSpeeds


def test_a_server_is_unknown_until_it_ran_a_job() -> None:
    speeds = ServerSpeeds()
    assert speeds.seconds("gpu", 10) is None

    speeds.observe("gpu", 1.5, 10, 0.1)

    # ten steps of 0.1 s and 0.5 s beside them (encoding, decoding, saving)
    assert speeds.seconds("gpu", 10) == pytest.approx(1.5)
    assert speeds.seconds("gpu", 0) == pytest.approx(0.5)


def test_a_job_without_a_sampler_tells_how_fast_a_server_is() -> None:
    speeds = ServerSpeeds()

    speeds.observe("slow", 0.4, 0, None)
    speeds.observe("fast", 0.05, 0, None)

    assert speeds.seconds("slow", 0) == pytest.approx(0.4)
    assert speeds.seconds("slow", 6) == pytest.approx(0.4 + 6 * 0.4 / FIXED_STEPS)
    assert speeds.seconds("fast", 6) < speeds.seconds("slow", 6)  # type: ignore[operator]


def test_a_job_whose_steps_went_unseen_tells_nothing() -> None:
    speeds = ServerSpeeds()

    speeds.observe("gpu", 2.0, 10, None)

    assert speeds.seconds("gpu", 10) is None


def test_a_server_that_slows_down_is_seen_doing_so() -> None:
    speeds = ServerSpeeds()
    speeds.observe("gpu", 1.0, 10, 0.1)
    speeds.observe("gpu", 3.0, 10, 0.3)

    assert speeds.seconds("gpu", 10) == pytest.approx(10 * (0.1 + SMOOTHING * 0.2))
