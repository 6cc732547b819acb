import json
from pathlib import Path

import pytest

from comfyui_pipe.comfy.outputs import (
    OutputRef,
    in_node_order,
    outputs_from_executed,
    outputs_from_history,
)

TRACES = Path(__file__).parent.parent / "fixtures" / "traces"


def _recorded_history(scenario: str) -> dict:
    for line in (TRACES / scenario).read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "http" and record["path"].startswith("/history/"):
            (entry,) = record["response_json"].values()
            return entry
    raise AssertionError(f"no history answer in {scenario}")


def _ref(filename: str, subfolder: str = "", type: str = "output") -> OutputRef:
    return OutputRef(filename, subfolder, type, "image", "9", "image/png")


def test_saved_image_of_a_real_history_entry():
    (ref,) = outputs_from_history(_recorded_history("a_emptyimage_save.jsonl"))

    assert ref == OutputRef(
        filename="trace_a_empty_00001_.png",
        subfolder="",
        type="output",
        kind="image",
        node_id="2",
        content_type="image/png",
    )


@pytest.mark.parametrize(
    ("output", "kind", "content_type"),
    [
        ({"images": [{"filename": "a.webp"}], "animated": [True]}, "animated", "image/webp"),
        ({"images": [{"filename": "a.png"}], "animated": [False]}, "image", "image/png"),
        ({"images": [{"filename": "clip.mp4"}], "animated": [True]}, "video", "video/mp4"),
        ({"gifs": [{"filename": "v.gif", "format": "image/gif"}]}, "gif", "image/gif"),
        ({"gifs": [{"filename": "v.webm", "format": "video/webm"}]}, "video", "video/webm"),
        ({"audio": [{"filename": "song.flac"}]}, "audio", "audio/flac"),
    ],
)
def test_kind_and_content_type_follow_the_output_key_and_extension(output, kind, content_type):
    item = next(iter(output.values()))[0]
    item.update(subfolder="sub", type="output")

    (ref,) = outputs_from_executed(output, "12")

    assert (ref.kind, ref.content_type, ref.node_id, ref.subfolder) == (
        kind,
        content_type,
        "12",
        "sub",
    )


def test_malformed_entries_are_skipped_and_text_is_an_output_of_its_own():
    entry = {
        "outputs": {
            "3": {"text": ["a caption"]},
            "4": {"images": [{"subfolder": ""}, "not-a-dict"]},
            "5": {"images": [{"filename": "kept.png", "subfolder": "", "type": "temp"}]},
        }
    }

    refs = outputs_from_history(entry)

    assert [(r.filename, r.kind, r.node_id, r.text) for r in refs] == [
        ("text_3.txt", "text", "3", "a caption"),
        ("kept.png", "image", "5", None),
    ]
    assert refs[0].content_type == "text/plain"


def test_vhs_video_combine_reports_its_video_under_gifs():
    output = {
        "gifs": [
            {
                "filename": "AnimateDiff_00001.mp4",
                "subfolder": "",
                "type": "output",
                "format": "video/h264-mp4",
                "frame_rate": 8.0,
            }
        ]
    }

    (ref,) = outputs_from_executed(output, "7")

    assert (ref.kind, ref.content_type) == ("video", "video/mp4")


async def test_a_text_output_streams_its_own_bytes_without_asking_the_server():
    from comfyui_pipe.comfy import ComfyClient

    (ref,) = outputs_from_executed({"text": ["über 9000"]}, "2")
    async with ComfyClient("http://127.0.0.1:9") as client:  # nothing listens there
        async with client.stream_output(ref, chunk_size=3) as chunks:
            data = b"".join([chunk async for chunk in chunks])

    assert data.decode("utf-8") == "über 9000"


def test_every_file_of_a_batch_is_listed_in_order():
    output = {"images": [{"filename": f"img_{i}.png", "type": "output"} for i in range(3)]}

    assert [r.filename for r in outputs_from_executed(output, "9")] == [
        "img_0.png",
        "img_1.png",
        "img_2.png",
    ]


@pytest.mark.parametrize(
    "ref",
    [
        _ref("../secret"),
        _ref("a/../../b.png"),
        _ref("x.png", subfolder=".."),
        _ref("x.png", subfolder="..\\windows"),
        _ref("/etc/passwd"),
        _ref("x.png", subfolder="/abs"),
        _ref("C:\\boot.ini"),
        _ref("x.png", type="../input"),
        _ref(""),
    ],
)
def test_refs_that_leave_the_output_folder_are_unsafe(ref):
    assert ref.unsafe_reason


@pytest.mark.parametrize("ref", [_ref("x.png"), _ref("x..y.png", subfolder="videos/2026")])
def test_plain_relative_refs_are_safe(ref):
    assert ref.unsafe_reason is None


def test_outputs_are_listed_by_node_id_numerically_then_by_name() -> None:
    refs = [
        OutputRef(f"{node}.png", "", "output", "image", node, "image/png")
        for node in ("12:10", "save", "9", "12:3", "10")
    ]

    assert [ref.node_id for ref in in_node_order(refs)] == ["9", "10", "12:3", "12:10", "save"]
