"""What one job's run on its server showed about that server: how long its loader
nodes took, and which of them ComfyUI answered from its cache (models it held)."""

from __future__ import annotations

import time
from collections.abc import Callable

from comfyui_pipe.comfy import JobUpdate
from comfyui_pipe.comfy.events import Executing, ExecutionCached

from .costs import Observed
from .shapes import JobShape


class RunWatch:
    """Fed a job's events as they come; asked what they showed once it has run."""

    def __init__(self, shape: JobShape, clock: Callable[[], float] = time.monotonic) -> None:
        self._loaders = dict(shape.loaders)
        self._clock = clock
        self._loading: tuple[str, float] | None = None
        self._loader_seconds: dict[str, float] = {}
        self._cached: set[str] = set()

    def feed(self, update: JobUpdate) -> None:
        match update:
            case ExecutionCached(nodes=nodes):
                for node in nodes:
                    self._cached |= self._loaders.get(node, frozenset())
            case Executing(node=node):
                self._close()
                if node is not None and node in self._loaders:
                    self._loading = (node, self._clock())

    def observed(self, seconds: float, seconds_per_step: float | None) -> Observed:
        """The run, ``seconds`` long, its sampler steps ``seconds_per_step`` each."""
        self._close()
        return Observed(seconds, seconds_per_step, self._loader_seconds, frozenset(self._cached))

    def _close(self) -> None:
        if self._loading is None:
            return
        node, since = self._loading
        self._loading = None
        took = self._clock() - since
        models = self._loaders[node]
        for model in models:  # a loader of several files: each its share
            self._loader_seconds[model] = took / len(models)
