"""Latest-wins coalescing: a new stage or step is sent at once, the newest state of every
throttle window reaches the client at the window's end, and the last state always does."""

from __future__ import annotations

from dataclasses import dataclass

from comfyui_pipe.progress import Stage
from comfyui_pipe.progress.coalescer import LatestWins

WINDOW = 0.5


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class State:
    stage: Stage
    step: int | None = None
    percent: float = 0.0


def coalescer(clock: FakeClock) -> LatestWins[State]:
    return LatestWins(lambda milestone: WINDOW, lambda state: (state.stage, state.step), clock)


def run(clock: FakeClock, offers: list[tuple[float, State]], until: float) -> list[State]:
    """Offer each state at its time and send whatever is due, the way a relay loop does."""
    states = coalescer(clock)
    sent: list[State] = []
    for at, state in offers:
        _send_due(states, clock, sent, until=at)
        clock.now = at
        states.offer(state)
        if (taken := states.take()) is not None:
            sent.append(taken)
    _send_due(states, clock, sent, until=until)
    while (last := states.take_remaining()) is not None:
        sent.append(last)
    return sent


def _send_due(states: LatestWins[State], clock: FakeClock, sent: list[State], until: float) -> None:
    while (due := states.due_at()) is not None and due <= until:
        clock.now = max(clock.now, due)
        taken = states.take()
        assert taken is not None
        sent.append(taken)


def test_every_step_and_stage_change_is_sent_at_once() -> None:
    clock = FakeClock()
    offers = [(0.0, State(Stage.LOADING))] + [
        (0.01 * step, State(Stage.SAMPLING, step)) for step in range(1, 20)
    ]
    offers.append((0.2, State(Stage.DECODING, 19)))

    sent = run(clock, offers, until=0.2)

    assert sent == [state for _, state in offers]


def test_the_newest_state_of_a_window_is_sent_at_its_end() -> None:
    clock = FakeClock()
    offers = [(0.0, State(Stage.SAMPLING, 3, 30.0))] + [
        (0.1 * tick, State(Stage.SAMPLING, 3, 30.0 + tick)) for tick in range(1, 4)
    ]
    states = coalescer(clock)
    for at, state in offers:
        clock.now = at
        states.offer(state)
        states.take()

    assert states.due_at() == WINDOW
    clock.now = 0.49
    assert states.take() is None
    clock.now = WINDOW
    assert states.take() == State(Stage.SAMPLING, 3, 33.0)
    assert states.due_at() is None


def test_a_burst_within_one_step_ends_with_its_newest_state_not_its_first() -> None:
    # ComfyUI sends progress_state, a preview, then progress for each step: the first
    # frame of the burst goes at once, the newest one at the window's end.
    clock = FakeClock()
    first, preview, last = (State(Stage.SAMPLING, 4, percent) for percent in (40.0, 40.5, 41.0))

    sent = run(clock, [(0.0, first), (0.002, preview), (0.004, last)], until=1.0)

    assert sent == [first, last]


def test_a_new_step_replaces_the_kept_state_of_the_previous_one() -> None:
    clock = FakeClock()
    offers = [
        (0.0, State(Stage.SAMPLING, 1, 10.0)),
        (0.1, State(Stage.SAMPLING, 1, 12.0)),  # kept, then overtaken by step 2
        (0.3, State(Stage.SAMPLING, 2, 20.0)),
    ]

    sent = run(clock, offers, until=1.0)

    assert sent == [State(Stage.SAMPLING, 1, 10.0), State(Stage.SAMPLING, 2, 20.0)]


def test_the_last_state_is_sent_even_inside_a_window() -> None:
    clock = FakeClock()
    states = coalescer(clock)
    states.offer(State(Stage.QUEUED, None, 0.0))
    assert states.take() == State(Stage.QUEUED, None, 0.0)
    clock.now = 0.1
    states.offer(State(Stage.QUEUED, None, 1.0))

    assert states.take() is None
    assert states.take_remaining() == State(Stage.QUEUED, None, 1.0)
    assert states.take_remaining() is None


def test_steps_and_stages_offered_before_anything_was_sent_are_all_sent_in_order() -> None:
    # A burst of frames reaches the service in one go: the sender runs only after it.
    clock = FakeClock()
    states = coalescer(clock)
    burst = [
        State(Stage.SAMPLING, 4, 40.0),
        State(Stage.SAMPLING, 4, 41.0),
        State(Stage.DECODING, 4, 95.0),
        State(Stage.SAVING, 4, 98.0),
    ]
    for state in burst:
        states.offer(state)

    sent = [states.take() for _ in burst]

    assert sent == [burst[1], burst[2], burst[3], None]


def test_slow_updates_within_one_step_are_each_sent() -> None:
    clock = FakeClock()
    offers = [(0.6 * tick, State(Stage.QUEUED, None, float(tick))) for tick in range(4)]

    sent = run(clock, offers, until=3.0)

    assert sent == [state for _, state in offers]


def test_the_window_can_be_longer_for_some_milestones() -> None:
    # A job waiting in line is told its new place at most every 2 s, a running one every
    # 0.5 s; a new stage or step still goes at once.
    clock = FakeClock()
    states: LatestWins[State] = LatestWins(
        lambda milestone: 2.0 if milestone == (Stage.QUEUED, None) else WINDOW,
        lambda state: (state.stage, state.step),
        clock,
    )
    states.offer(State(Stage.QUEUED, None, 0.0))
    assert states.take() == State(Stage.QUEUED, None, 0.0)
    clock.now = 0.1
    states.offer(State(Stage.QUEUED, None, 1.0))
    assert not states.urgent()

    assert states.due_at() == 2.0
    clock.now = 0.2
    states.offer(State(Stage.SAMPLING, 1, 5.0))
    assert states.urgent()
    assert states.take() == State(Stage.SAMPLING, 1, 5.0)
    clock.now = 0.3
    states.offer(State(Stage.SAMPLING, 1, 6.0))
    assert states.due_at() == 0.2 + WINDOW
