"""Chat progress: live updates as the relay lets them through, previews as data URLs, one
persisted end with the outputs."""

from __future__ import annotations

import dataclasses
from typing import Any

from comfyui_pipe.comfy.events import Preview
from comfyui_pipe.generation.failures import Failure, FailureKind
from comfyui_pipe.generation.records import JobRecord, JobState
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.chat.progress import ChatProgress
from comfyui_pipe.progress import ProgressSnapshot, Stage

RUNNING = JobRecord("job", "owner", "sd15_txt2img", {"seed": 7}, JobState.RUNNING, 10.0)
DONE = dataclasses.replace(RUNNING, state=JobState.COMPLETED, finished_at=11.0)
CANCELLED = dataclasses.replace(
    RUNNING, state=JobState.CANCELLED, finished_at=11.0, failure=Failure(FailureKind.CANCELLED)
)


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


def progress_with(caption_says_done: bool = False) -> tuple[ChatProgress, list, list]:
    live: list[dict[str, Any]] = []
    persisted: list[dict[str, Any]] = []

    async def send_live(event: dict[str, Any]) -> None:
        live.append(event)

    async def send_persisted(event: dict[str, Any]) -> None:
        persisted.append(event)

    progress = ChatProgress(send_live, send_persisted, caption_says_done=caption_says_done)
    return progress, live, persisted


async def test_every_snapshot_the_relay_lets_through_is_shown_live() -> None:
    progress, live, persisted = progress_with()
    await progress.show(RUNNING, snapshot(Stage.LOADING))
    for step in (1, 2):
        await progress.show(RUNNING, snapshot(Stage.SAMPLING, step))

    statuses = [event["data"]["description"] for event in live if event["type"] == "status"]
    assert [status.split(" · ")[0] for status in statuses] == [
        "Loading model",
        "Sampling 1/10",
        "Sampling 2/10",
    ]
    assert persisted == []


async def test_a_preview_is_shown_as_a_data_url_after_the_files_already_shown() -> None:
    live: list[dict[str, Any]] = []

    async def send(event: dict[str, Any]) -> None:
        live.append(event)

    earlier = {"type": "image", "id": "earlier", "url": "/api/v1/files/earlier/content"}
    progress = ChatProgress(send, send, shown_files=[earlier])
    await progress.show(RUNNING, snapshot(Stage.SAMPLING, 1, Preview(b"jpeg", "image/jpeg")))

    [files] = [event["data"]["files"] for event in live if event["type"] == "files"]
    assert files[0] == earlier
    assert files[1]["url"] == "data:image/jpeg;base64,anBlZw=="


async def test_the_end_persists_one_status_and_the_full_file_list() -> None:
    progress, live, persisted = progress_with()
    stored = [
        StoredFile(f"id{n}", f"/api/v1/files/id{n}/content", f"{n}.png", "image/png", 3)
        for n in range(2)
    ]
    await progress.end(DONE, stored)

    assert persisted[0] == {
        "type": "status",
        "data": {"description": "Done in 1.0 s · seed 7", "done": True, "hidden": False},
    }
    files = persisted[1]["data"]["files"]
    assert [f["url"] for f in files] == ["/api/v1/files/id0/content", "/api/v1/files/id1/content"]
    assert all(f["type"] == "image" and f["content_type"] == "image/png" for f in files)
    assert live == []


async def test_the_status_line_is_hidden_when_the_caption_says_done() -> None:
    progress, _, persisted = progress_with(caption_says_done=True)
    await progress.end(DONE, [])
    assert persisted[0]["data"]["hidden"] is True


async def test_a_job_ending_without_images_takes_the_preview_away() -> None:
    progress, live, persisted = progress_with()
    await progress.show(RUNNING, snapshot(Stage.SAMPLING, 1, Preview(b"jpeg", "image/jpeg")))
    await progress.end(CANCELLED, [])

    assert live[-1] == {"type": "files", "data": {"files": []}}
    assert [event["data"]["description"] for event in persisted] == ["Cancelled"]


async def test_a_video_is_listed_as_a_file_card() -> None:
    progress, _, persisted = progress_with()
    video = StoredFile("v1", "/api/v1/files/v1/content", "clip.mp4", "video/mp4", 2048)
    await progress.end(DONE, [video])
    [listed] = persisted[1]["data"]["files"]
    assert listed["type"] == "file" and listed["size"] == 2048
    assert listed["content_type"] == "video/mp4"
