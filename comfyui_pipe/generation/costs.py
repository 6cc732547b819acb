"""What a job costs on each ComfyUI server, learnt from what the servers did.

A job's cost on a server is the time to load the model files it needs that the server
does not hold (``Resident``), plus its run time there. Run time is a fixed part
(encoding, decoding, saving) plus its sampler steps at the server's seconds per step,
scaled by its size (per step ∝ pixels^exponent, the exponent learnt once a server ran
a workflow at two sizes). Both come from the server's last ``WINDOW`` runs of the same
workflow; a workflow a server has not run yet is priced from another server's runs of
it, scaled by how the two servers' steps compare, else from the server's other
workflows. Loading a model costs what its loader node took there the last times it
loaded it. A server that has run nothing yet is priced optimistically (as the best
server that has), so it is tried; the scheduler then gives it one job at a time until
it has run one. Before any server has run anything, the priors below stand. Pure:
fed by the job runs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from .shapes import REFERENCE_PIXELS, JobShape

WINDOW = 8
"""A server's runs of one workflow remembered: a server that slows down is seen soon."""
SMOOTHING = 0.3
"""Weight of the newest load time in a model's average."""
PRIOR_FIXED = 2.0
PRIOR_PER_STEP = 0.25
"""Seconds per sampler step at ``REFERENCE_PIXELS``, before any server has run a job."""
PRIOR_LOAD = 10.0
"""Seconds to load one model file, before a server was seen loading one."""
SIZE_EXPONENT = 1.0
"""Seconds per step ∝ pixels^this, until a server ran a workflow at two sizes."""
FIXED_STEPS = 2.0
"""A job's fixed time in steps of the same server, while no step was seen there."""
HIT_SHARE = 0.25
"""A loader that ran in under this share of its model's load time found it in memory."""
MOST_KEPT = 8


@dataclass(frozen=True)
class Resident:
    """The model files a server is believed to hold: those of its last jobs, as many
    jobs' worth as it has shown to keep (one until a model thought gone was found
    still loaded)."""

    recent: tuple[frozenset[str], ...] = ()
    """The model sets of its last jobs, newest first."""
    keeps: int = 1

    @cached_property
    def models(self) -> frozenset[str]:
        return frozenset().union(*self.recent[: self.keeps])

    def after(self, models: frozenset[str]) -> Resident:
        """What it holds once a job of ``models`` ran."""
        if not models:
            return self
        recent = (models, *(kept for kept in self.recent if kept != models))
        return replace(self, recent=recent[:MOST_KEPT])


@dataclass(frozen=True)
class Estimate:
    load: float
    """Seconds to load the models it needs that the server does not hold."""
    run: float
    learnt: bool = True
    """False: a prior (the server has run nothing yet)."""

    @property
    def seconds(self) -> float:
        return self.load + self.run


@dataclass(frozen=True)
class Observed:
    """One job's time on one server, as its events told it."""

    seconds: float
    """From its start to its end on ComfyUI."""
    seconds_per_step: float | None
    """Of its sampler steps (None: too few were seen)."""
    loader_seconds: Mapping[str, float] = field(default_factory=dict)
    """Each model file whose loader node ran, with the seconds it took."""
    cached: frozenset[str] = frozenset()
    """Model files whose loader ComfyUI answered from its cache (held)."""


@dataclass(frozen=True)
class _Run:
    pixels: int
    steps: int
    per_step: float | None
    fixed: float


@dataclass(frozen=True)
class WorkflowSpeed:
    """What a server has shown for one workflow (for admins)."""

    workflow: str
    runs: int
    fixed_seconds: float
    seconds_per_step: float | None
    """At ``REFERENCE_PIXELS``."""
    size_exponent: float


@dataclass(frozen=True)
class Learnt:
    """What this process has learnt of one server (for admins)."""

    workflows: tuple[WorkflowSpeed, ...]
    load_seconds: Mapping[str, float]
    """Model file → seconds it took to load there."""
    resident: tuple[str, ...]
    """Model files it is believed to hold."""


class ServerCosts:
    """Per server: its runs per workflow, its models' load times, what it holds."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], deque[_Run]] = {}
        self._fits: dict[tuple[str, str], tuple[float, float | None, float]] = {}
        """``_fit`` of each ``_runs`` entry, made when first asked after it changed (the
        planner prices every waiting job on every look)."""
        self._loads: dict[str, dict[str, float]] = {}
        self._resident: dict[str, Resident] = {}

    def resident(self, url: str) -> Resident:
        return self._resident.get(url, Resident())

    def learnt(self, url: str) -> bool:
        """Whether ``url`` has run a job this process saw."""
        return any(key[0] == url for key in self._runs)

    def observe(self, url: str, shape: JobShape, observed: Observed) -> None:
        """``shape`` ran on ``url`` as ``observed``."""
        before = self.resident(url)
        loading = 0.0
        found = set(observed.cached & shape.models)
        for model, seconds in observed.loader_seconds.items():
            usual = self._loads.get(url, {}).get(model)
            if usual is not None and seconds < HIT_SHARE * usual:
                found.add(model)  # held: the loader only looked it up
                continue
            if usual is None and model in before.models:
                continue
            loading += seconds
            _average(self._loads.setdefault(url, {}), model, seconds)
        kept = before.keeps + (1 if found - before.models and before.recent else 0)
        self._resident[url] = replace(before, keeps=min(kept, MOST_KEPT)).after(shape.models)
        self._learn_run(url, shape, max(observed.seconds - loading, 0.0), observed)

    def _learn_run(self, url: str, shape: JobShape, seconds: float, observed: Observed) -> None:
        per_step = observed.seconds_per_step
        if shape.steps and per_step is None:
            known = self._fit(url, shape.workflow)
            if known is None or known[1] is None:
                return  # its steps went unseen and nothing tells them apart from the rest
            per_step = known[1] * _scale(shape.pixels, known[2])
        fixed = max(seconds - shape.steps * (per_step or 0.0), 0.0)
        runs = self._runs.setdefault((url, shape.workflow), deque(maxlen=WINDOW))
        runs.append(_Run(shape.pixels, shape.steps, per_step if shape.steps else None, fixed))
        self._fits.pop((url, shape.workflow), None)

    def estimate(self, url: str, shape: JobShape, resident: Resident | None = None) -> Estimate:
        """``shape``'s expected cost on ``url`` holding ``resident`` (by default, what it
        is believed to hold now)."""
        held = (resident or self.resident(url)).models
        load = self.load_seconds(url, shape.models - held)
        run = self._run_seconds(url, shape)
        if run is not None:
            return Estimate(load, run)
        known = [self._run_seconds(other, shape) for other in self._servers()]
        runs = [seconds for seconds in known if seconds is not None]
        return Estimate(load, min(runs, default=_prior_run(shape)), learnt=False)

    def load_seconds(self, url: str, models: frozenset[str]) -> float:
        """What loading ``models`` on ``url`` takes: each as it took there, else as it took
        elsewhere, else as models took anywhere, else ``PRIOR_LOAD``."""
        return sum(self._load_seconds(url, model) for model in models)

    def view(self, url: str) -> Learnt:
        workflows = []
        for (server, workflow), runs in self._runs.items():
            fit = self._fit(url, workflow) if server == url else None
            if fit is not None:
                fixed, per_step, exponent = fit
                workflows.append(WorkflowSpeed(workflow, len(runs), fixed, per_step, exponent))
        return Learnt(
            tuple(workflows),
            dict(self._loads.get(url, {})),
            tuple(sorted(self.resident(url).models)),
        )

    def _servers(self) -> set[str]:
        return {url for url, _ in self._runs}

    def _run_seconds(self, url: str, shape: JobShape) -> float | None:
        fit = self._fit(url, shape.workflow)
        if fit is None:
            fit = self._borrowed(url, shape.workflow)
        if fit is None:
            return None
        fixed, per_step, exponent = fit
        if per_step is None:
            per_step = fixed / FIXED_STEPS
        return fixed + shape.steps * per_step * _scale(shape.pixels, exponent)

    def _borrowed(self, url: str, workflow: str) -> tuple[float, float | None, float] | None:
        """``workflow`` on ``url``, which has not run it: from a server that has, scaled by
        how the two compare on workflows both ran; else from ``url``'s own workflows."""
        mine = [run for (server, _), runs in self._runs.items() if server == url for run in runs]
        if not mine:
            return None
        for other, known in self._runs:
            ratio = self._ratio(url, other) if known == workflow and other != url else None
            if ratio is not None and (fit := self._fit(other, known)) is not None:
                fixed, per_step, exponent = fit
                return fixed * ratio, None if per_step is None else per_step * ratio, exponent
        return _fit(mine)

    def _ratio(self, url: str, other: str) -> float | None:
        """How much longer ``url`` takes than ``other`` over the workflows both ran."""
        logs = []
        for server, workflow in self._runs:
            mine, theirs = self._fit(url, workflow), self._fit(other, workflow)
            if server == url and mine is not None and theirs is not None:
                logs.append(math.log(_pace(mine) / _pace(theirs)))
        return math.exp(sum(logs) / len(logs)) if logs else None

    def _fit(self, url: str, workflow: str) -> tuple[float, float | None, float] | None:
        key = (url, workflow)
        if key not in self._fits:
            runs = self._runs.get(key)
            if not runs:
                return None
            self._fits[key] = _fit(list(runs))
        return self._fits[key]

    def _load_seconds(self, url: str, model: str) -> float:
        here = self._loads.get(url, {})
        if model in here:
            return here[model]
        elsewhere = [loads[model] for loads in self._loads.values() if model in loads]
        known = elsewhere or [
            seconds for loads in self._loads.values() for seconds in loads.values()
        ]
        return sum(known) / len(known) if known else PRIOR_LOAD


def _fit(runs: list[_Run]) -> tuple[float, float | None, float]:
    """(fixed seconds, seconds per step at ``REFERENCE_PIXELS`` or None, size exponent)."""
    fixed = sum(run.fixed for run in runs) / len(runs)
    stepped = [run for run in runs if run.per_step]
    if not stepped:
        return fixed, None, SIZE_EXPONENT
    exponent = _size_exponent(stepped)
    logs = [math.log(run.per_step or 1.0) - exponent * _log_size(run.pixels) for run in stepped]
    return fixed, math.exp(sum(logs) / len(logs)), exponent


def _size_exponent(runs: Iterable[_Run]) -> float:
    """The slope of log(seconds per step) over log(pixels), clamped to [0, 2]; the prior
    while the sizes seen are too alike to tell."""
    points = [(_log_size(run.pixels), math.log(run.per_step or 1.0)) for run in runs]
    xs = [x for x, _ in points]
    if max(xs) - min(xs) < math.log(1.2):
        return SIZE_EXPONENT
    mean_x, mean_y = sum(xs) / len(xs), sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return min(max(slope, 0.0), 2.0)


def _pace(fit: tuple[float, float | None, float]) -> float:
    """Seconds per step at ``REFERENCE_PIXELS`` (the fixed time in steps, where no step
    was seen)."""
    fixed, per_step, _ = fit
    return per_step if per_step is not None else max(fixed / FIXED_STEPS, 1e-6)


def _log_size(pixels: int) -> float:
    return math.log(max(pixels, 1) / REFERENCE_PIXELS)


def _scale(pixels: int, exponent: float) -> float:
    return math.exp(exponent * _log_size(pixels))


def _prior_run(shape: JobShape) -> float:
    return PRIOR_FIXED + shape.steps * PRIOR_PER_STEP * _scale(shape.pixels, SIZE_EXPONENT)


def _average(averages: dict[str, float], key: str, value: float) -> None:
    known = averages.get(key)
    averages[key] = value if known is None else known + SMOOTHING * (value - known)
