"""The one throttle of progress, on an injected clock: a step never goes out older than the
newest one held, new steps go at once, stages passed within a moment show as the newest,
updates within a step wait for their window, previews travel with the step they belong
to and at most one a second, and a job's end drops all but a step not shown yet."""

from __future__ import annotations

from dataclasses import replace

import pytest

from comfyui_pipe.comfy.events import Preview
from comfyui_pipe.progress import ProgressSnapshot, Stage
from comfyui_pipe.progress.throttle import ProgressThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def at(step: int, *, eta: float = 1.0, preview: Preview | None = None) -> ProgressSnapshot:
    return ProgressSnapshot(
        percent=float(step),
        stage=Stage.SAMPLING,
        step=step,
        steps=30,
        queue_position=None,
        queue_total=None,
        eta_seconds=eta,
        preview=preview,
        started=True,
        elapsed_seconds=0.0,
    )


def preview_of(step: int) -> Preview:
    return Preview(f"jpeg of step {step}".encode(), "image/jpeg", "p", "3")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_flush_never_sends_a_step_older_than_the_newest_held(clock: Clock) -> None:
    throttle = ProgressThrottle(clock)
    sent = []
    for step in range(1, 31):
        throttle.offer(at(step))
        throttle.offer(at(step, eta=0.5))  # an update of the same step
        clock.now += 0.03
        if step % 3 == 0:  # the sender gets its turn only now and then
            while (taken := throttle.take()) is not None:
                sent.append(taken)
    while (taken := throttle.take_last()) is not None:
        sent.append(taken)

    steps = [snapshot.step for snapshot in sent]
    assert steps == sorted(set(steps))  # in order, none twice
    assert steps == list(range(3, 31, 3))  # each flush: the newest step held at that moment
    assert all(snapshot.eta_seconds == 0.5 for snapshot in sent)  # the newest state of it


def test_a_new_step_is_due_at_once_and_an_update_after_its_window(clock: Clock) -> None:
    throttle = ProgressThrottle(clock, step_window=0.5)
    throttle.offer(at(1))
    assert throttle.take() == at(1)

    throttle.offer(at(1, eta=0.9))
    assert throttle.take() is None
    clock.now += 0.4
    assert throttle.take() is None
    clock.now += 0.1
    assert throttle.take() == at(1, eta=0.9)

    throttle.offer(at(2))
    assert throttle.due_at() == float("-inf") and throttle.take() == at(2)


def test_places_in_line_are_told_on_a_longer_window(clock: Clock) -> None:
    throttle = ProgressThrottle(clock, waiting_window=2.0)
    queued = replace(at(0), stage=Stage.QUEUED, step=None, queue_position=5)
    throttle.offer(queued)
    assert throttle.take() == queued
    throttle.offer(replace(queued, queue_position=4))
    clock.now += 1.9
    assert throttle.take() is None
    clock.now += 0.1
    assert throttle.take() == replace(queued, queue_position=4)


def test_previews_go_with_their_own_step_and_at_most_once_a_second(clock: Clock) -> None:
    throttle = ProgressThrottle(clock, preview_window=1.0)
    shown = []
    for step in range(1, 11):
        throttle.offer(at(step, preview=preview_of(step)))
        shown.append(throttle.take())
        clock.now += 0.3

    with_preview = [snapshot for snapshot in shown if snapshot and snapshot.preview]
    assert [s.step for s in with_preview] == [1, 5, 9]  # 0.0 s, 1.2 s, 2.4 s
    assert all(s.preview == preview_of(s.step or 0) for s in with_preview)
    assert all(s is not None for s in shown)  # every step went, the others without preview


def test_a_preview_already_shown_is_not_sent_again(clock: Clock) -> None:
    throttle = ProgressThrottle(clock)
    first = preview_of(1)
    throttle.offer(at(1, preview=first))
    assert throttle.take().preview is first  # type: ignore[union-attr]
    clock.now += 5
    throttle.offer(at(2, preview=first))  # the tracker still holds step 1's preview
    assert throttle.take().preview is None  # type: ignore[union-attr]


def test_previews_off_sends_none(clock: Clock) -> None:
    throttle = ProgressThrottle(clock, previews=False)
    throttle.offer(at(1, preview=preview_of(1)))
    assert throttle.take().preview is None  # type: ignore[union-attr]


def test_a_new_preview_of_the_same_step_goes_as_soon_as_its_window_has_passed(
    clock: Clock,
) -> None:
    throttle = ProgressThrottle(clock, step_window=5.0, preview_window=1.0)
    throttle.offer(at(1, preview=preview_of(0)))
    assert throttle.take().preview == preview_of(0)  # type: ignore[union-attr]

    clock.now += 0.2
    throttle.offer(at(1, preview=preview_of(1)))  # ComfyUI's preview of step 1 comes after it
    assert not throttle.urgent() and throttle.due_at() == 101.0
    clock.now += 0.7
    assert throttle.take() is None
    clock.now += 0.1
    assert throttle.urgent()
    assert throttle.take() == at(1, preview=preview_of(1))


def running(stage: Stage, step: int | None = None) -> ProgressSnapshot:
    return replace(at(0), stage=stage, step=step)


def test_a_stage_shows_once_it_has_lasted_its_window_and_a_passing_one_never(
    clock: Clock,
) -> None:
    throttle = ProgressThrottle(clock, stage_window=0.25)
    throttle.offer(running(Stage.STARTING))
    clock.now += 0.125
    throttle.offer(running(Stage.LOADING))  # starting lasted an eighth of a second
    assert throttle.due_at() == 100.375 and throttle.take() is None
    clock.now += 0.125
    throttle.offer(replace(running(Stage.LOADING), eta_seconds=0.5))  # same stage: no reset
    clock.now += 0.125
    assert throttle.take() == replace(running(Stage.LOADING), eta_seconds=0.5)

    throttle.offer(running(Stage.RUNNING))
    clock.now += 0.125
    throttle.offer(at(0))  # the sampler's first step does not wait, nor let "running" go
    assert throttle.due_at() == float("-inf") and throttle.take() == at(0)
    assert throttle.take() is None


def test_a_stage_that_brings_a_step_not_shown_goes_at_once(clock: Clock) -> None:
    throttle = ProgressThrottle(clock, stage_window=0.2)
    throttle.offer(at(29))
    assert throttle.take() == at(29)
    clock.now += 0.01
    throttle.offer(running(Stage.DECODING, step=30))  # the sampler's last step came with it
    assert throttle.take() == running(Stage.DECODING, step=30)
    throttle.offer(running(Stage.SAVING, step=30))
    assert throttle.take() is None  # a stage with no new step waits for its window


def test_at_the_end_only_a_step_not_shown_yet_still_goes(clock: Clock) -> None:
    throttle = ProgressThrottle(clock, stage_window=0.2)
    throttle.offer(at(5))
    assert throttle.take() == at(5)
    throttle.offer(at(6))
    throttle.offer(running(Stage.DECODING, step=6))
    assert throttle.take_last() == running(Stage.DECODING, step=6)

    throttle.offer(running(Stage.SAVING, step=6))  # the end says more than "Saving"
    assert throttle.take_last() is None
    throttle.offer(replace(at(6), eta_seconds=0.1))  # nor does an update of a step shown
    assert throttle.take_last() is None
