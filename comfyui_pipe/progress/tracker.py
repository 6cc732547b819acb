"""A pure state machine turning one job's ComfyUI events into progress snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from comfyui_pipe.comfy.events import (
    Event,
    Executed,
    Executing,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    Preview,
    Progress,
    ProgressState,
)
from comfyui_pipe.comfy.queue import QueuePosition
from comfyui_pipe.workflow.graph import Graph, class_of, title_of

from .rate import StepRate, StepTick
from .snapshot import ProgressSnapshot
from .stage import Stage, stage_of_node
from .weights import estimated_steps, node_weights

# 100 % means the job succeeded; all nodes finishing (or cached) is not quite that yet.
_CEILING_BEFORE_SUCCESS = 99.0


class ProgressTracker:
    """Feed it the events of one prompt; ask it for snapshots; tell it how the job ended.

    ``prompt`` is the API-format graph that was submitted. Node ids that are
    not in it (nodes expanded at run time) are tolerated and ignored.
    """

    def __init__(self, prompt: Graph, clock: Callable[[], float] = time.monotonic) -> None:
        self._graph = prompt
        self._weights = node_weights(prompt)
        self._sampler_steps = estimated_steps(prompt)
        self._clock = clock
        self._created_at = clock()
        self._finished_at: float | None = None
        self._outcome: Stage | None = None
        self._started = False
        self._current: str | None = None
        self._done: set[str] = set()
        self._partial: dict[str, float] = {}
        self._percent = 0.0
        self._step: int | None = None
        self._steps: int | None = None
        self._rate = StepRate()
        self._queue_position: int | None = None
        self._queue_total: int | None = None
        self._preview: Preview | None = None
        self._next_preview: Preview | None = None
        self._planned_end: float | None = None
        self._jobs_ahead: int | None = None
        self._resumed: Stage | None = None

    def feed(self, event: Event | QueuePosition) -> None:
        if self._outcome is not None:
            return
        if self._next_preview is not None and not isinstance(event, Preview | QueuePosition):
            self._preview, self._next_preview = self._next_preview, None
        match event:
            case QueuePosition(position=position, total=total):
                self._queue_position, self._queue_total = position, total
            case ExecutionStart():
                self._started = True
            case ExecutionCached(nodes=nodes):
                self._mark_done(*nodes)
            case Executing(node=None):
                # Old servers end a prompt with this alone; newer ones after the terminal event.
                self._finish(Stage.DONE)
            case Executing(node=str(node)):
                self._enter(node)
            case Progress():
                self._progress(event)
            case ProgressState(nodes=nodes):
                self._progress_state(nodes)
            case Executed(node=node):
                self._mark_done(node)
            case ExecutionSuccess():
                self._finish(Stage.DONE)
            case ExecutionError() if event.blocked:
                # Only this branch stops; the rest of the prompt goes on.
                self._mark_done(event.node_id)
            case ExecutionError():
                self._finish(Stage.FAILED)
            case ExecutionInterrupted():
                self._finish(Stage.CANCELLED)
            case Preview(node_id=str()):
                # A preview with metadata comes just before its step's progress frame
                # (a bare one just after): it is shown with its step, not the one before.
                self._next_preview = event
            case Preview():
                self._preview = event
        self._update_percent()

    def expect(self, end_at: float, jobs_ahead: int) -> None:
        """When the scheduler's plan expects the job to end (this tracker's clock), and how
        many jobs run before it on its server; renewed as the plan is."""
        self._planned_end, self._jobs_ahead = end_at, jobs_ahead

    def resume(self, stage: Stage, step: int | None, steps: int | None, percent: float) -> None:
        """Where the job's previous follower last saw it (a job adopted mid-run): shown until
        its own events name its running node."""
        if self._started or stage.finished or stage in (Stage.WAITING, Stage.QUEUED):
            return
        self._started, self._resumed = True, stage
        self._step, self._steps, self._percent = step, steps, percent

    def finish(self, outcome: Stage) -> None:
        """How the job ended, whoever learnt it (its events, a reconciliation, a cancel,
        a deadline, storing its outputs); overrides what the events alone suggested."""
        if self._finished_at is None:
            self._finished_at = self._clock()
        self._outcome = outcome
        self._update_percent()

    def _update_percent(self) -> None:
        if self._outcome is Stage.DONE:
            self._percent = 100.0
        else:
            self._percent = max(self._percent, self._work_done())

    @property
    def started(self) -> bool:
        """Whether the job has started running on ComfyUI (as ``snapshot().started``)."""
        return self._started

    @property
    def seconds_per_step(self) -> float | None:
        """How fast its sampler steps went (model loading left out); None before two."""
        return self._rate.seconds_per_step

    def _left_queue(self) -> bool:
        return self._started or self._outcome is not None

    def snapshot(self) -> ProgressSnapshot:
        now = self._clock() if self._finished_at is None else self._finished_at
        stage = self._stage()
        return ProgressSnapshot(
            percent=self._percent,
            stage=stage,
            step=self._step,
            steps=self._steps,
            queue_position=None if self._left_queue() else self._queue_position,
            queue_total=None if self._left_queue() else self._queue_total,
            eta_seconds=self._eta(now),
            jobs_ahead=None if self._left_queue() else self._jobs_ahead,
            preview=self._preview,
            started=self._started,
            elapsed_seconds=now - self._created_at,
            node_title=title_of(self._graph, self._current)
            if stage is Stage.RUNNING and self._current is not None
            else None,
        )

    def _enter(self, node: str) -> None:
        if node not in self._weights:
            return
        self._started = True
        if self._current is not None and self._current != node:
            self._mark_done(self._current)
        self._current = node
        if node in self._sampler_steps:
            self._step = 0
            self._steps = self._sampler_steps[node]

    def _progress(self, event: Progress) -> None:
        node = event.node or self._current
        if node is None or node not in self._weights:
            return
        if self._current is None:
            self._join(node)
        self._set_partial(node, event.value, event.max)
        if node in self._sampler_steps:
            self._step, self._steps = event.value, event.max
            self._rate.observe(StepTick(node, event.value, self._clock()))

    def _progress_state(self, nodes: Mapping[str, Any]) -> None:
        for node, state in nodes.items():
            if node not in self._weights or not isinstance(state, Mapping):
                continue
            if state.get("state") == "finished":
                self._mark_done(node)
            elif state.get("state") == "running":
                if self._current is None:
                    self._join(node)
                self._set_partial(node, state.get("value"), state.get("max"))

    def _join(self, node: str) -> None:
        """A job followed from the middle of its run (adopted from another process) hears
        its running node first from that node's progress: the ``executing`` that named
        it went to the process that followed it then."""
        if node not in self._done:
            self._enter(node)

    def _set_partial(self, node: str, value: Any, maximum: Any) -> None:
        numbers = isinstance(value, int | float) and isinstance(maximum, int | float)
        if numbers and maximum > 0:
            self._partial[node] = min(value / maximum, 1.0)

    def _mark_done(self, *nodes: str | None) -> None:
        self._done.update(node for node in nodes if node in self._weights)

    def _finish(self, outcome: Stage) -> None:
        self._outcome = outcome
        self._finished_at = self._clock()

    def _work_done(self) -> float:
        done = sum(self._weights[node] for node in self._done)
        partial = sum(
            self._weights[node] * fraction
            for node, fraction in self._partial.items()
            if node not in self._done
        )
        return min(_CEILING_BEFORE_SUCCESS, 100.0 * (done + partial))

    def _stage(self) -> Stage:
        if self._outcome is not None:
            return self._outcome
        if self._current is not None:
            if self._current in self._sampler_steps:
                return Stage.SAMPLING
            return stage_of_node(class_of(self._graph, self._current))
        if self._resumed is not None:
            return self._resumed
        if self._started or self._queue_position == 0:
            return Stage.STARTING
        if self._queue_position is not None:
            return Stage.QUEUED
        return Stage.WAITING

    def _eta(self, now: float) -> float | None:
        """Seconds left: from the steps' pace while sampling, else from the plan."""
        if self._outcome is not None:
            return None
        sampling = self._sampling_eta(now)
        if sampling is not None:
            return sampling
        if self._planned_end is None:
            return None
        return max(0.0, self._planned_end - now)

    def _sampling_eta(self, now: float) -> float | None:
        seconds_per_step = self._rate.seconds_per_step
        if seconds_per_step is None:
            return None
        remaining = sum(
            steps
            for node, steps in self._sampler_steps.items()
            if node not in self._done and node != self._current
        )
        since_last_step = 0.0
        if self._current in self._sampler_steps:
            remaining += (self._steps or 0) - (self._step or 0)
            last = self._rate.last
            if last is not None and last.node == self._current:
                since_last_step = now - last.at
        if remaining <= 0:
            return None
        return max(0.0, remaining * seconds_per_step - since_last_step)
