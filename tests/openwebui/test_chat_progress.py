"""Chat progress: live updates as the relay chooses them, previews as data URLs at most
once a second, one persisted end."""

from __future__ import annotations

from typing import Any

from comfyui_pipe.comfy.events import Preview
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.progress_events import ChatProgress
from comfyui_pipe.progress import ProgressSnapshot, Stage


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def snapshot(
    stage: Stage, step: int | None = None, preview: Preview | None = None, position: int = 0
) -> Any:
    return ProgressSnapshot(
        percent=0.0 if step is None else step * 10.0,
        stage=stage,
        step=step,
        steps=10,
        queue_position=position,
        queue_total=3,
        eta_seconds=None,
        preview=preview,
        started=stage is not Stage.QUEUED,
        elapsed_seconds=0.0,
    )


def progress_with(clock: Clock, previews: bool = True) -> tuple[ChatProgress, list, list]:
    live: list[dict[str, Any]] = []
    persisted: list[dict[str, Any]] = []

    async def send_live(event: dict[str, Any]) -> None:
        live.append(event)

    async def send_persisted(event: dict[str, Any]) -> None:
        persisted.append(event)

    return ChatProgress(send_live, send_persisted, previews=previews, clock=clock), live, persisted


async def test_every_snapshot_the_relay_chooses_is_shown_live() -> None:
    clock = Clock()
    progress, live, persisted = progress_with(clock)
    await progress.update(snapshot(Stage.LOADING))
    for step in (1, 2):
        await progress.update(snapshot(Stage.SAMPLING, step))

    statuses = [event["data"]["description"] for event in live if event["type"] == "status"]
    assert [status.split(" · ")[0] for status in statuses] == [
        "Loading model",
        "Sampling 1/10",
        "Sampling 2/10",
    ]
    assert persisted == []


async def test_previews_are_data_urls_at_most_once_a_second() -> None:
    clock = Clock()
    progress, live, _ = progress_with(clock)
    for tick in range(5):
        clock.now = tick * 0.4
        await progress.update(snapshot(Stage.SAMPLING, 1, Preview(b"jpeg", "image/jpeg")))
    previews = [event["data"]["files"][0] for event in live if event["type"] == "files"]
    assert len(previews) == 2
    assert previews[0]["url"] == "data:image/jpeg;base64,anBlZw=="


async def test_previews_off_sends_none() -> None:
    progress, live, _ = progress_with(Clock(), previews=False)
    await progress.update(snapshot(Stage.SAMPLING, 1, Preview(b"jpeg", "image/jpeg")))
    assert [event["type"] for event in live] == ["status"]


async def test_finish_persists_one_status_and_the_full_file_list() -> None:
    progress, live, persisted = progress_with(Clock())
    stored = [
        StoredFile(f"id{n}", f"/api/v1/files/id{n}/content", f"{n}.png", "image/png", 3)
        for n in range(2)
    ]
    await progress.finish("Done in 1.0 s · seed 7", stored)

    assert persisted[0] == {
        "type": "status",
        "data": {"description": "Done in 1.0 s · seed 7", "done": True, "hidden": False},
    }
    files = persisted[1]["data"]["files"]
    assert [f["url"] for f in files] == ["/api/v1/files/id0/content", "/api/v1/files/id1/content"]
    assert all(f["type"] == "image" and f["content_type"] == "image/png" for f in files)
    assert live == []


async def test_a_job_ending_without_images_takes_the_preview_away() -> None:
    progress, live, persisted = progress_with(Clock())
    await progress.update(snapshot(Stage.SAMPLING, 1, Preview(b"jpeg", "image/jpeg")))
    await progress.finish("Cancelled")

    assert live[-1] == {"type": "files", "data": {"files": []}}
    assert [event["type"] for event in persisted] == ["status"]


async def test_the_outcome_is_left_to_finish() -> None:
    progress, live, _ = progress_with(Clock())
    await progress.update(snapshot(Stage.DECODING))
    await progress.update(snapshot(Stage.DONE))
    assert [event["data"]["description"] for event in live] == ["Decoding · 0%"]


async def test_a_video_is_listed_as_a_file_card() -> None:
    progress, _, persisted = progress_with(Clock())
    video = StoredFile("v1", "/api/v1/files/v1/content", "clip.mp4", "video/mp4", 2048)
    await progress.finish("Done in 9.0 s", [video])
    [listed] = persisted[1]["data"]["files"]
    assert listed["type"] == "file" and listed["size"] == 2048
    assert listed["content_type"] == "video/mp4"
