from comfyui_pipe.comfy.queue import QueueSnapshot


def _item(number: int, prompt_id: str) -> list:
    return [number, prompt_id, {}, {}, ["9"]]


def test_pending_heap_is_sorted_by_number():
    # A binary heap on number is only partially ordered: 12 sits before 11 here.
    body = {
        "queue_running": [_item(7, "run")],
        "queue_pending": [_item(8, "b"), _item(12, "e"), _item(9, "c"), _item(11, "d")],
    }

    snapshot = QueueSnapshot.from_response(body)

    assert snapshot.running == ["run"]
    assert snapshot.pending == ["b", "c", "d", "e"]
    assert [snapshot.position(p) for p in ("run", "b", "c", "d", "e")] == [0, 1, 2, 3, 4]
    assert snapshot.total == 5


def test_front_jumps_are_negative_numbers_and_come_first():
    body = {"queue_running": [], "queue_pending": [_item(3, "late"), _item(-1, "front")]}

    snapshot = QueueSnapshot.from_response(body)

    assert snapshot.position("front") == 1
    assert snapshot.position("late") == 2


def test_unknown_prompt_has_no_position():
    snapshot = QueueSnapshot.from_response({"queue_running": [], "queue_pending": []})

    assert snapshot.position("gone") is None
    assert snapshot.total == 0
