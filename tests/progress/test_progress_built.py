"""Progress for graphs and event sequences the recordings do not cover."""

from __future__ import annotations

from typing import Any

from comfyui_pipe.comfy.events import (
    Executed,
    Executing,
    ExecutionError,
    ExecutionStart,
    ExecutionSuccess,
    Progress,
    ProgressState,
)
from comfyui_pipe.comfy.queue import QueuePosition
from comfyui_pipe.progress import ProgressSnapshot, ProgressTracker, Stage

PROMPT_ID = "5f0c3d7e-1111-4a4a-8b8b-000000000001"


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


SDXL_BASE_AND_REFINER = {
    "base_ckpt": node("CheckpointLoaderSimple", ckpt_name="sdxl_base.safetensors"),
    "refiner_ckpt": node("CheckpointLoaderSimple", ckpt_name="sdxl_refiner.safetensors"),
    "pos": node("CLIPTextEncode", text="a lighthouse", clip=["base_ckpt", 1]),
    "neg": node("CLIPTextEncode", text="blurry", clip=["base_ckpt", 1]),
    "latent": node("EmptyLatentImage", width=1024, height=1024, batch_size=1),
    "base": node(
        "KSamplerAdvanced",
        model=["base_ckpt", 0],
        steps=25,
        start_at_step=0,
        end_at_step=20,
        latent_image=["latent", 0],
    ),
    "refiner": node(
        "KSamplerAdvanced",
        model=["refiner_ckpt", 0],
        steps=25,
        start_at_step=20,
        end_at_step=10000,
        latent_image=["base", 0],
    ),
    "decode": node("VAEDecode", samples=["refiner", 0], vae=["refiner_ckpt", 2]),
    "save": node("SaveImage", filename_prefix="sdxl", images=["decode", 0]),
}

HIRES_FIX = {
    "ckpt": node("CheckpointLoaderSimple", ckpt_name="sd15.safetensors"),
    "latent": node("EmptyLatentImage", width=512, height=512, batch_size=1),
    "first": node("KSampler", steps=20, model=["ckpt", 0], latent_image=["latent", 0]),
    "enlarge": node("LatentUpscaleBy", samples=["first", 0], scale_by=1.5),
    "second": node(
        "KSampler", steps=10, denoise=0.5, model=["ckpt", 0], latent_image=["enlarge", 0]
    ),
    "decode": node("VAEDecodeTiled", samples=["second", 0], vae=["ckpt", 2]),
    "upscaler": node("UpscaleModelLoader", model_name="4x.pth"),
    "upscale": node("ImageUpscaleWithModel", upscale_model=["upscaler", 0], image=["decode", 0]),
    "save": node("SaveImage", filename_prefix="hires", images=["upscale", 0]),
}


class Run:
    """Drives a tracker through a job, one second of fake time per sampler step."""

    def __init__(self, prompt: dict[str, Any], clock) -> None:
        self.clock = clock
        self.tracker = ProgressTracker(prompt, clock=clock)
        self.snapshots: list[ProgressSnapshot] = []
        self.feed(ExecutionStart(PROMPT_ID))

    def feed(self, event) -> ProgressSnapshot:
        self.tracker.feed(event)
        snapshot = self.tracker.snapshot()
        self.snapshots.append(snapshot)
        return snapshot

    def execute(self, node_id: str) -> ProgressSnapshot:
        return self.feed(Executing(PROMPT_ID, node_id))

    def sample(
        self, node_id: str, steps: int, seconds_per_step: float, of: int | None = None
    ) -> ProgressSnapshot:
        """Runs ``steps`` steps of a sampler that reports ``of`` (default: ``steps``) in all."""
        self.execute(node_id)
        for value in range(1, steps + 1):
            self.clock.now += seconds_per_step
            snapshot = self.feed(Progress(PROMPT_ID, node_id, value, of or steps))
        return snapshot

    @property
    def percents(self) -> list[float]:
        return [s.percent for s in self.snapshots]


def test_base_and_refiner_restart_the_step_counter_and_keep_percent_climbing(clock):
    run = Run(SDXL_BASE_AND_REFINER, clock)
    for loader in ("base_ckpt", "refiner_ckpt", "pos", "neg", "latent"):
        run.execute(loader)

    entering_base = run.execute("base")
    assert (entering_base.activity, entering_base.eta_seconds) == ("Sampling 0/20", None)
    after_base = run.sample("base", 20, seconds_per_step=1.0)
    entering_refiner = run.execute("refiner")
    after_refiner = run.sample("refiner", 5, seconds_per_step=1.0)
    run.execute("decode")
    run.execute("save")
    run.feed(Executed(PROMPT_ID, "save", {"images": []}))
    done = run.feed(ExecutionSuccess(PROMPT_ID))

    assert after_base.activity == "Sampling 20/20"
    assert entering_refiner.activity == "Sampling 0/5"
    assert (entering_refiner.step, entering_refiner.steps) == (0, 5)
    # The refiner has not stepped yet; its five steps are estimated at the base's rate.
    assert entering_refiner.eta_seconds == 5.0
    assert after_refiner.activity == "Sampling 5/5"
    assert run.percents == sorted(run.percents)
    assert 50 < after_base.percent < after_refiner.percent < 100
    assert (done.percent, done.describe()) == (100.0, "Done")


def test_eta_counts_the_samplers_still_to_come(clock):
    run = Run(SDXL_BASE_AND_REFINER, clock)
    run.execute("base")
    halfway = run.sample("base", 10, seconds_per_step=2.0, of=20)

    # 10 base steps and 5 refiner steps left at 2 s each.
    assert halfway.eta_seconds == 30.0
    clock.now += 1.5
    assert run.tracker.snapshot().eta_seconds == 28.5
    assert halfway.describe() == f"Sampling 10/20 · {int(halfway.percent)}% · ~30 s left"


def test_hires_fix_phases_and_tile_progress_keep_the_sampler_steps(clock):
    run = Run(HIRES_FIX, clock)
    run.execute("ckpt")
    run.execute("latent")
    run.sample("first", 20, seconds_per_step=0.5)
    enlarging = run.execute("enlarge")
    run.sample("second", 10, seconds_per_step=0.5)
    decoding = run.execute("decode")
    loading_upscaler = run.execute("upscaler")
    upscaling = run.execute("upscale")
    for tile in range(1, 5):
        upscaling = run.feed(Progress(PROMPT_ID, "upscale", tile, 4))
    after_tile_of_one = run.feed(Progress(PROMPT_ID, "upscale", 1, 1))
    done = run.feed(ExecutionSuccess(PROMPT_ID))

    assert enlarging.activity == "Upscaling"
    assert decoding.activity == "Decoding"
    assert loading_upscaler.activity == "Loading model"
    assert upscaling.activity == "Upscaling"
    assert (after_tile_of_one.step, after_tile_of_one.steps) == (10, 10)
    assert run.percents == sorted(run.percents)
    assert done.percent == 100.0


def test_progress_from_another_node_does_not_change_the_sampling_text(clock):
    run = Run(HIRES_FIX, clock)
    run.execute("first")
    run.feed(Progress(PROMPT_ID, "first", 3, 20))

    snapshot = run.feed(Progress(PROMPT_ID, "decode", 1, 1))

    assert snapshot.activity == "Sampling 3/20"


def test_sampler_custom_advanced_reads_steps_from_its_scheduler(clock):
    prompt = {
        "unet": node("UNETLoader", unet_name="flux.safetensors"),
        "scheduler": node("BasicScheduler", model=["unet", 0], steps=8, denoise=1.0),
        "sampler": node("SamplerCustomAdvanced", sigmas=["scheduler", 0]),
        "decode": node("VAEDecode", samples=["sampler", 0]),
    }
    run = Run(prompt, clock)

    assert run.execute("sampler").activity == "Sampling 0/8"


def test_steps_from_a_linked_primitive(clock):
    prompt = {
        "steps": node("PrimitiveInt", value=14),
        "sampler": node("KSampler", steps=["steps", 0]),
    }

    assert Run(prompt, clock).execute("sampler").activity == "Sampling 0/14"


def test_blocked_branch_is_not_the_end_of_the_job(clock):
    prompt = {
        "image": node("LoadImage", image="in.png"),
        "gate": node("ExecutionBlocker", input=["image", 0], block=True),
        "save_gated": node("SaveImage", images=["gate", 0]),
        "save": node("SaveImage", images=["image", 0]),
    }
    run = Run(prompt, clock)
    run.execute("image")
    run.execute("save_gated")
    blocked = run.feed(
        ExecutionError(PROMPT_ID, "save_gated", "SaveImage", "ExecutionBlocked", "blocked")
    )
    saving = run.execute("save")
    done = run.feed(ExecutionSuccess(PROMPT_ID))

    assert not blocked.finished and blocked.activity != "Failed"
    assert 0 < blocked.percent < 100
    assert saving.activity == "Saving" and not saving.finished
    assert (done.activity, done.percent) == ("Done", 100.0)


def test_nodes_missing_from_the_graph_are_tolerated(clock):
    run = Run(HIRES_FIX, clock)
    before = run.execute("first")

    run.execute("first.0.1")
    run.feed(Progress(PROMPT_ID, "first.0.1", 3, 10))
    after = run.feed(ProgressState(PROMPT_ID, {"first.0.1": {"state": "finished"}}))

    assert (after.activity, after.percent) == (before.activity, before.percent)


def test_queue_position_before_the_job_starts(clock):
    tracker = ProgressTracker(HIRES_FIX, clock=clock)
    assert tracker.snapshot().describe() == "Waiting for ComfyUI"

    tracker.feed(QueuePosition(PROMPT_ID, 3, 5))
    queued = tracker.snapshot()
    tracker.feed(QueuePosition(PROMPT_ID, 1, None))
    next_up = tracker.snapshot()
    tracker.feed(QueuePosition(PROMPT_ID, 0, 1))
    running = tracker.snapshot()

    assert (queued.describe(), queued.queue_position, queued.queue_total) == (
        "Queued (#3 of 5)",
        3,
        5,
    )
    assert next_up.describe() == "Queued (#1)"
    assert running.activity == "Starting"
    assert not running.started and running.percent == 0


def test_a_job_that_started_or_ended_is_no_longer_queued(clock):
    tracker = ProgressTracker(HIRES_FIX, clock=clock)
    tracker.feed(QueuePosition(PROMPT_ID, 1, 2))
    tracker.feed(ExecutionStart(PROMPT_ID))
    running = tracker.snapshot()
    tracker.feed(ExecutionSuccess(PROMPT_ID))
    done = tracker.snapshot()

    assert (running.queue_position, running.queue_total) == (None, None)
    assert (done.queue_position, done.describe()) == (None, "Done")


def test_elapsed_time_stops_when_the_job_ends(clock):
    clock.now = 100.0
    run = Run(HIRES_FIX, clock)
    clock.now = 112.0
    run.feed(ExecutionSuccess(PROMPT_ID))
    clock.now = 500.0

    assert run.tracker.snapshot().elapsed_seconds == 12.0


def test_nothing_changes_after_the_job_ended(clock):
    run = Run(HIRES_FIX, clock)
    run.execute("first")
    cancelled = run.feed(ExecutionError(PROMPT_ID, "first", "KSampler", "OOM", "out of memory"))

    later = run.execute("decode")

    assert later == cancelled
    assert later.activity == "Failed"


def test_long_waits_are_described_in_minutes_and_hours():
    def line(eta: float) -> str:
        return ProgressSnapshot(40.0, Stage.SAMPLING, 12, 30, 0, 1, eta, None, True, 9.0).describe()

    assert line(5.2) == "Sampling 12/30 · 40% · ~6 s left"
    assert line(0.2) == "Sampling 12/30 · 40% · ~1 s left"
    assert line(150) == "Sampling 12/30 · 40% · ~2 min left"
    assert line(3 * 3600 + 600) == "Sampling 12/30 · 40% · ~3 h 10 min left"


def test_a_node_restarting_its_progress_does_not_move_the_bar_back(clock):
    run = Run(HIRES_FIX, clock)
    run.execute("upscale")
    full_pass = run.feed(Progress(PROMPT_ID, "upscale", 4, 4))

    second_pass = run.feed(Progress(PROMPT_ID, "upscale", 1, 4))

    assert second_pass.percent == full_pass.percent


def test_a_server_that_only_says_executing_none_still_ends_done(clock):
    run = Run(HIRES_FIX, clock)
    run.execute("save")

    done = run.feed(Executing(PROMPT_ID, None))

    assert (done.activity, done.percent, done.finished) == ("Done", 100.0, True)


def test_a_tracker_joining_a_running_job_shows_its_sampler_from_its_first_step(clock):
    """An adopted job's tracker starts mid-run: its first events are the sampler's step
    frames, not the ``executing`` that named the sampler long ago."""
    for first in (
        ProgressState(PROMPT_ID, {"first": {"state": "running", "value": 7, "max": 20}}),
        Progress(PROMPT_ID, "first", 7, 20),
    ):
        tracker = ProgressTracker(HIRES_FIX, clock=clock)
        tracker.feed(first)
        tracker.feed(Progress(PROMPT_ID, "first", 8, 20))
        joined = tracker.snapshot()
        assert (joined.stage, joined.activity) == (Stage.SAMPLING, "Sampling 8/20")
        assert joined.started and joined.steps == 20

        tracker.feed(Executing(PROMPT_ID, "enlarge"))
        tracker.feed(Executing(PROMPT_ID, "second"))
        assert tracker.snapshot().activity == "Sampling 0/10"


def test_a_joining_tracker_keeps_to_the_node_that_executing_named(clock):
    run = Run(HIRES_FIX, clock)
    run.execute("decode")
    run.feed(ProgressState(PROMPT_ID, {"first": {"state": "running", "value": 1, "max": 2}}))
    assert run.tracker.snapshot().stage is Stage.DECODING


def test_a_resumed_tracker_shows_where_the_job_was_until_its_events_say_more(clock):
    tracker = ProgressTracker(HIRES_FIX, clock=clock)
    tracker.resume(Stage.SAMPLING, 7, 20, 41.0)
    resumed = tracker.snapshot()
    assert (resumed.activity, resumed.percent, resumed.started) == ("Sampling 7/20", 41.0, True)

    tracker.feed(Progress(PROMPT_ID, "first", 9, 20))
    assert tracker.snapshot().activity == "Sampling 9/20"
    assert tracker.snapshot().percent >= 41.0
    tracker.feed(Executing(PROMPT_ID, "decode"))
    assert tracker.snapshot().stage is Stage.DECODING

    waiting = ProgressTracker(HIRES_FIX, clock=clock)
    waiting.resume(Stage.QUEUED, None, None, 0.0)
    assert waiting.snapshot().stage is Stage.WAITING
