"""Progress as a user would see it, replaying sessions recorded from a real ComfyUI."""

from __future__ import annotations

from comfyui_pipe.comfy.events import (
    Executing,
    ExecutionCached,
    ExecutionSuccess,
    Preview,
    Progress,
)


def phase_sequence(steps) -> list[str]:
    sequence: list[str] = []
    for step in steps:
        if not sequence or sequence[-1] != step.snapshot.activity:
            sequence.append(step.snapshot.activity)
    return sequence


def assert_monotonic(steps) -> None:
    percents = [step.snapshot.percent for step in steps]
    assert percents == sorted(percents)


def test_txt2img_phases_follow_the_graph_and_end_done(replay_trace):
    steps = replay_trace("e_txt2img_sdrand")

    assert phase_sequence(steps) == [
        "Waiting for ComfyUI",
        "Starting",
        "Loading model",
        "Running Empty Latent Image",
        "Running Negative",
        "Running Positive",
        *(f"Sampling {n}/6" for n in range(7)),
        "Decoding",
        "Saving",
        "Done",
    ]
    final = steps[-1].snapshot
    assert (final.percent, final.finished, final.describe()) == (100.0, True, "Done")
    success_at = next(s.at for s in steps if isinstance(s.event, ExecutionSuccess))
    assert final.elapsed_seconds == success_at  # the clock stops at success


def test_txt2img_percent_climbs_with_the_sampler_steps(replay_trace):
    steps = replay_trace("e_txt2img_sdrand")

    assert_monotonic(steps)
    at_step = {s.event.value: s.snapshot.percent for s in steps if isinstance(s.event, Progress)}
    assert 0 < at_step[1] < at_step[3] < at_step[6] < 100
    # Sampling is most of the work: its six steps move the bar more than all other nodes.
    before_sampling = next(
        s.snapshot.percent for s in steps if s.snapshot.activity == "Sampling 0/6"
    )
    assert at_step[6] - before_sampling > 50
    assert all(s.snapshot.percent < 100 for s in steps if not s.snapshot.finished)


def test_txt2img_eta_tracks_the_recorded_step_rate(replay_trace):
    steps = replay_trace("g_txt2img_seed43_steps12")
    progress = [s for s in steps if isinstance(s.event, Progress)]
    last_step_at = progress[-1].at

    assert progress[0].snapshot.eta_seconds is None  # one step gives no rate yet
    for step in progress[1:-1]:
        actual = last_step_at - step.at
        assert 0.5 * actual <= step.snapshot.eta_seconds <= 1.5 * actual
    assert progress[-1].snapshot.eta_seconds is None  # no sampling left
    assert "left" in progress[5].snapshot.describe()


def test_partly_cached_run_starts_ahead_and_counts_all_twelve_steps(replay_trace):
    steps = replay_trace("g_txt2img_seed43_steps12")

    after_cache = next(s.snapshot for s in steps if isinstance(s.event, ExecutionCached))
    assert after_cache.percent > 0
    sampling = [p for p in phase_sequence(steps) if p.startswith("Sampling")]
    assert sampling == [f"Sampling {n}/12" for n in range(13)]
    assert_monotonic(steps)
    assert steps[-1].snapshot.percent == 100.0


def test_fully_cached_run_reaches_100_without_any_progress_event(replay_trace):
    steps = replay_trace("f_txt2img_cached")

    assert not any(isinstance(s.event, Progress | Executing) and s.event.node for s in steps)
    assert_monotonic(steps)
    final = steps[-1].snapshot
    assert (final.percent, final.activity, final.finished) == (100.0, "Done", True)
    assert final.step is None and final.eta_seconds is None


def test_runtime_error_ends_failed_where_it_stopped(replay_trace):
    steps = replay_trace("h_runtime_execution_error")

    assert phase_sequence(steps)[-3:] == ["Running EmptySD3LatentImage", "Decoding", "Failed"]
    final = steps[-1].snapshot
    assert final.finished and final.describe() == "Failed"
    assert 0 < final.percent < 100
    assert final.eta_seconds is None


def test_interrupted_sampler_ends_cancelled(replay_trace):
    steps = replay_trace("d2_queue_delete_interrupt_by_prompt_id_ksampler")

    assert phase_sequence(steps)[-3:] == ["Sampling 0/200", "Sampling 1/200", "Cancelled"]
    final = steps[-1].snapshot
    assert final.finished and final.describe() == "Cancelled"
    assert final.percent < 20
    assert (final.step, final.steps) == (1, 200)


def test_metadata_previews_show_with_the_step_they_belong_to(replay_trace):
    steps = replay_trace("e2_txt2img_sdrand_64_4steps_warm_featureflags")

    previews = [n for n, s in enumerate(steps) if isinstance(s.event, Preview)]
    assert len(previews) == 4
    for n in previews:
        # ComfyUI sends a step's preview just before that step's progress frame
        before, with_step = steps[n], steps[n + 1]
        assert isinstance(with_step.event, Progress)
        assert before.snapshot.preview is not before.event
        assert with_step.snapshot.preview is before.event
        assert with_step.snapshot.step == with_step.event.value
    assert steps[-1].snapshot.preview is steps[previews[-1]].event
    assert [p for p in phase_sequence(steps) if p.startswith("Sampling")] == [
        f"Sampling {n}/4" for n in range(5)
    ]
    assert steps[-1].snapshot.percent == 100.0


def test_untargeted_previews_attach_to_the_running_job(replay_trace):
    steps = replay_trace("e_txt2img_sdrand")

    previews = [s for s in steps if isinstance(s.event, Preview)]
    assert len(previews) == 6
    assert all(s.snapshot.preview is s.event for s in previews)
