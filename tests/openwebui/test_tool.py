"""The Tool and the Actions in the real Open WebUI, driven by a scripted tool-calling
model (a real OpenAI-compatible HTTP server registered as a connection)."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from comfyui_pipe.openwebui.function_source import ACTIONS, FUNCTION_ID, TOOL
from openwebui.harness import Account, OpenWebUIServer, ThreadedDouble
from openwebui.scripted_connection import VIDEO_WORKFLOW
from openwebui.scripted_model import MODEL_ID, ScriptedModel, ToolCall, relay
from openwebui.test_api_admin import settings_restored
from openwebui.test_chat import (  # noqa: F401  (fixtures)
    SocketRecorder,
    api,
    assert_nothing_left,
    sampled_steps,
    saved_message,
    send_chat,
    slow_steps,
    socket_for,
)
from openwebui.test_input_rules import restricted_models

__all__ = ["restricted_models", "settings_restored"]  # fixtures

Turn = tuple[str, str]


class AnsweringRecorder(SocketRecorder):
    """Also answers Open WebUI's input dialogs (an Action asking for options) with ``answer``."""

    answer: str | None = None

    async def _record(self, payload: dict[str, Any]) -> Any:
        await super()._record(payload)
        if payload.get("data", {}).get("type") == "input":
            return self.answer
        return None


@pytest.fixture
async def answering(owui: OpenWebUIServer, user: Account) -> Any:
    recorder = await AnsweringRecorder(owui.url, user).__aenter__()
    recorder.client.on("events", recorder._record)
    yield recorder
    await recorder.__aexit__(None, None, None)


async def ask_model(
    http: httpx.AsyncClient,
    account: Account,
    recorder: SocketRecorder,
    text: str,
    earlier: Turn | None = None,
) -> Turn:
    """A message to the scripted model in a saved chat, with the tools the web UI sends
    for it (the model's toolIds); returns the chat id and the reply's id."""
    if earlier is None:
        created = await http.post(
            "/api/v1/chats/new",
            headers=account.headers,
            json={"chat": {"title": "Tool", "models": [MODEL_ID], "history": {"messages": {}}}},
        )
        created.raise_for_status()
        chat_id, parent_id = created.json()["id"], None
    else:
        chat_id, parent_id = earlier
    user_message_id, reply_id = str(uuid.uuid4()), str(uuid.uuid4())
    response = await http.post(
        "/api/chat/completions",
        headers=account.headers,
        json={
            "model": MODEL_ID,
            "stream": True,
            "messages": [{"role": "user", "content": text}],
            "tool_ids": [TOOL.id],
            "chat_id": chat_id,
            "id": reply_id,
            "parent_id": parent_id,
            "session_id": recorder.session_id,
            "user_message": {
                "id": user_message_id,
                "role": "user",
                "content": text,
                "parentId": parent_id,
                "childrenIds": [],
                "models": [MODEL_ID],
                "timestamp": int(time.time()),
            },
        },
    )
    response.raise_for_status()
    return chat_id, reply_id


def calls(tool: str, **arguments: Any) -> Any:
    return lambda text: ToolCall(tool, arguments)


def statuses(recorder: SocketRecorder, message_id: str) -> list[str]:
    return recorder.statuses(message_id)


def steps_received(comfy: ThreadedDouble, since: int) -> list[int]:
    """The sampler steps of every prompt ComfyUI got since ``since``, each sampler's."""
    return [
        node["inputs"]["steps"]
        for body in comfy.double.prompts_received[since:]
        for node in body["prompt"].values()
        if "steps" in node["inputs"]
    ]


async def made_by(client: httpx.AsyncClient, account: Account, turn: Turn) -> dict[str, Any]:
    """What made the one file of a turn's message (its stored generation parameters)."""
    [made] = (await saved_message(client, account, turn))["files"]
    described = await client.get(f"/api/v1/files/{made['id']}", headers=account.headers)
    return dict(described.json()["meta"]["comfyui"])


@pytest.fixture
def six_steps_by_default(http: httpx.Client, user: Account) -> Iterator[None]:
    """``user`` saved 6 sampler steps as their default in the chat controls."""
    valves = f"/api/v1/functions/id/{FUNCTION_ID}/valves/user"
    before = http.get(valves, headers=user.headers).json() or {}
    saved = http.post(f"{valves}/update", headers=user.headers, json={**before, "steps": 6})
    saved.raise_for_status()
    yield
    http.post(f"{valves}/update", headers=user.headers, json=before).raise_for_status()


async def test_asking_for_an_image_calls_the_tool_then_shows_progress_and_the_image(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    other_user: Account,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
    slow_steps: Any,  # noqa: F811
) -> None:
    scripted.script = calls(
        "generate_image",
        prompt="a red fox in the snow",
        workflow="sd15_txt2img",
        seed=77,
        size="256x256",
    )
    recorder = await socket_for(user)
    turn = await ask_model(api, user, recorder, "Draw me a fox")
    await recorder.wait_done(turn[1])

    offered = scripted.offered_tools(scripted.requests[-2])
    assert {"generate_image", "edit_image", "make_video", "upscale_image"} <= set(offered)
    said = statuses(recorder, turn[1])
    assert sampled_steps(said) and said[-1].startswith("Done in") and "seed 77" in said[-1]
    previews = [
        f for e in recorder.of(turn[1], "files") for f in e["files"] if f["url"].startswith("data:")
    ]
    assert previews, "no live preview reached the message"
    saved = await saved_message(api, user, turn)
    [image] = [f for f in saved["files"] if f.get("type") == "image"]
    assert image["url"] == f"/api/v1/files/{image['id']}/content"
    assert (await api.get(image["url"], headers=user.headers)).status_code == 200
    assert (await api.get(image["url"], headers=other_user.headers)).status_code == 404
    [result] = scripted.tool_results()[-1:]
    assert "seed 77" in result and "256×256" in result and image["url"] in result
    assert "base64" not in result and len(result) < 600
    assert saved["content"] == relay(result)  # the model relayed it; no filter changed it


async def test_a_refused_request_reaches_the_model_as_a_sentence(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    comfy: ThreadedDouble,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
) -> None:
    scripted.script = calls("generate_image", prompt="a castle", size="8192x8192")
    recorder = await socket_for(user)
    received_before = len(comfy.double.prompts_received)
    turn = await ask_model(api, user, recorder, "A huge castle please")
    await recorder.wait_done(turn[1])

    result = scripted.tool_results()[-1]
    assert result.startswith("Nothing was made:") and "above the maximum" in result
    assert "Traceback" not in result
    assert len(comfy.double.prompts_received) == received_before
    assert_nothing_left(comfy)


async def test_the_tool_obeys_model_access_as_the_chat_does(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    comfy: ThreadedDouble,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
    restricted_models: tuple[str, str],
) -> None:
    recorder = await socket_for(user)
    received_before = len(comfy.double.prompts_received)
    results = []
    for workflow in restricted_models:
        scripted.script = calls("generate_image", prompt="a castle", workflow=workflow)
        turn = await ask_model(api, user, recorder, "A castle please")
        await recorder.wait_done(turn[1])
        results.append(scripted.tool_results()[-1])

    for result, workflow in zip(results, restricted_models, strict=True):
        assert result.startswith("Nothing was made:") and f"'{workflow}'" in result, result
    assert len(comfy.double.prompts_received) == received_before


async def test_the_tool_obeys_the_per_user_limit(
    api: httpx.AsyncClient,  # noqa: F811
    admin: Account,
    user: Account,
    comfy: ThreadedDouble,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
    slow_steps: Any,  # noqa: F811
    settings_restored: dict[str, Any],
) -> None:
    limited = await api.put(
        "/api/v1/comfyui/settings", headers=admin.headers, json={"jobs_per_user": 1}
    )
    limited.raise_for_status()
    running = await api.post(
        "/api/v1/comfyui/generate", headers=user.headers, json={"prompt": "a slow fox", "steps": 20}
    )
    assert running.status_code == 202, running.text
    scripted.script = calls("generate_image", prompt="a second fox", workflow="sd15_txt2img")
    recorder = await socket_for(user)

    turn = await ask_model(api, user, recorder, "Another fox")
    await recorder.wait_done(turn[1])

    result = scripted.tool_results()[-1]
    assert result.startswith("Nothing was made:") and "1 generation running" in result, result
    cancelled = await api.post(
        f"/api/v1/comfyui/jobs/{running.json()['id']}/cancel", headers=user.headers
    )
    assert cancelled.json()["state"] == "cancelled"


async def test_stop_during_sampling_cancels_exactly_that_job(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    other_user: Account,
    comfy: ThreadedDouble,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
    slow_steps: Any,  # noqa: F811
) -> None:
    from openwebui.test_chat import send_chat

    scripted.script = calls("generate_image", prompt="a storm", workflow="sd15_txt2img")
    mine, theirs = await socket_for(user), await socket_for(other_user)
    received_before = len(comfy.double.prompts_received)
    my_turn = await ask_model(api, user, mine, "Paint a storm")
    await mine.wait_for(lambda: sampled_steps(statuses(mine, my_turn[1])))
    their_turn = await send_chat(api, other_user, theirs, "a calm lake --steps 4")

    stopped = await api.post(f"/api/tasks/chat/{my_turn[0]}/stop", headers=user.headers)
    assert stopped.status_code == 200

    await mine.wait_for(lambda: "Cancelled" in statuses(mine, my_turn[1]))
    my_prompt_id = comfy.double.prompts_received[received_before]["prompt_id"]
    await theirs.wait_done(their_turn[1])
    other_saved = await saved_message(api, other_user, their_turn)
    assert len(other_saved["files"]) == 1
    comfy.run(comfy.double.wait_idle())
    assert comfy.double.history[my_prompt_id]["status"]["status_str"] != "success"
    assert_nothing_left(comfy)


async def test_edit_without_an_attachment_works_on_the_last_generated_image(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    comfy: ThreadedDouble,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
) -> None:
    recorder = await socket_for(user)
    scripted.script = calls("generate_image", prompt="a blue car", workflow="sd15_txt2img")
    first = await ask_model(api, user, recorder, "Draw a car")
    await recorder.wait_done(first[1])
    [generated] = (await saved_message(api, user, first))["files"]
    generated_bytes = (await api.get(generated["url"], headers=user.headers)).content

    scripted.script = calls("edit_image", instruction="make it bluer", workflow="sd15_img2img")
    received_before = len(comfy.double.prompts_received)
    second = await ask_model(api, user, recorder, "make it bluer", earlier=first)
    await recorder.wait_done(second[1])

    graph = comfy.double.prompts_received[received_before]["prompt"]
    [loaded] = [n["inputs"]["image"] for n in graph.values() if n["class_type"] == "LoadImage"]
    assert comfy.double.uploaded[loaded] == generated_bytes
    assert len((await saved_message(api, user, second))["files"]) == 1


async def test_the_tool_is_offered_only_where_an_admin_allowed_it(
    api: httpx.AsyncClient,  # noqa: F811
    other_user: Account,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
) -> None:
    scripted.script = calls("generate_image", prompt="a fox")
    recorder = await socket_for(other_user)
    results_before = len(scripted.tool_results())
    turn = await ask_model(api, other_user, recorder, "Draw a fox")
    await recorder.wait_done(turn[1])

    assert "generate_image" not in scripted.offered_tools(scripted.requests[-1])
    assert len(scripted.tool_results()) == results_before


async def _generated_turn(
    client: httpx.AsyncClient, user: Account, recorder: SocketRecorder, scripted: ScriptedModel
) -> Turn:
    scripted.script = calls(
        "generate_image", prompt="a lighthouse", workflow="sd15_txt2img", seed=5, size="256x256"
    )
    turn = await ask_model(client, user, recorder, "Draw a lighthouse")
    await recorder.wait_done(turn[1])
    return turn


async def press(
    client: httpx.AsyncClient, account: Account, recorder: SocketRecorder, turn: Turn, action: str
) -> httpx.Response:
    return await client.post(
        f"/api/chat/actions/{ACTIONS.id}.{action}",
        headers=account.headers,
        json={
            "model": MODEL_ID,
            "messages": [],
            "chat_id": turn[0],
            "id": turn[1],
            "session_id": recorder.session_id,
        },
        timeout=60,
    )


@pytest.mark.parametrize(
    ("action", "answer", "expected"),
    [
        ("variations", None, {"seed_changes": True}),
        ("rerun", "--size 320x256 --steps 3 --seed 99", {"seed": 99, "width": 320}),
        ("upscale", None, {"bigger": True}),
        ("use_as_input", "make it stormy", {"prompt": "make it stormy"}),
    ],
)
async def test_each_action_runs_a_new_job_into_that_message(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    comfy: ThreadedDouble,
    scripted: ScriptedModel,
    answering: AnsweringRecorder,
    action: str,
    answer: str | None,
    expected: dict[str, Any],
) -> None:
    turn = await _generated_turn(api, user, answering, scripted)
    [first] = (await saved_message(api, user, turn))["files"]
    answering.answer = answer

    pressed = await press(api, user, answering, turn, action)
    assert pressed.status_code == 200, pressed.text

    files = (await saved_message(api, user, turn))["files"]
    assert len(files) == 2 and first["id"] in {f["id"] for f in files}, files
    [new] = [f for f in files if f["id"] != first["id"]]
    meta = (await api.get(f"/api/v1/files/{new['id']}", headers=user.headers)).json()["meta"]
    made = meta["comfyui"]
    if expected.get("seed_changes"):
        assert made["seed"] != 5 and made["prompt"] == "a lighthouse" and made["width"] == 256
    if expected.get("bigger"):
        content = (await api.get(new["url"], headers=user.headers)).content
        assert Image.open(io.BytesIO(content)).width > 256
    for key in ("seed", "width", "prompt"):
        if key in expected:
            assert made[key] == expected[key], made
    assert not [e for e in answering.of(turn[1], "notification")], answering.of(
        turn[1], "notification"
    )


async def test_actions_never_act_on_another_users_result(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    other_user: Account,
    comfy: ThreadedDouble,
    scripted: ScriptedModel,
    answering: AnsweringRecorder,
) -> None:
    turn = await _generated_turn(api, user, answering, scripted)
    received_before = len(comfy.double.prompts_received)

    pressed = await press(api, other_user, answering, turn, "variations")

    assert pressed.status_code in (400, 401, 403, 404)
    assert len(comfy.double.prompts_received) == received_before
    assert len((await saved_message(api, user, turn))["files"]) == 1


async def test_a_video_through_the_tool_is_a_video_file_and_a_player_line(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
) -> None:
    scripted.script = calls("make_video", prompt="waves at night", workflow=VIDEO_WORKFLOW)
    recorder = await socket_for(user)
    turn = await ask_model(api, user, recorder, "Make a short clip of waves")
    await recorder.wait_done(turn[1])

    saved = await saved_message(api, user, turn)
    [video] = saved["files"]
    assert video["content_type"].startswith("video/")
    content = await api.get(video["url"], headers=user.headers)
    assert content.status_code == 200 and content.content[:4] == b"\x1a\x45\xdf\xa3"  # WEBM
    player = f"<video>\n{video['url']}\n</video>"
    assert player in scripted.tool_results()[-1]
    # the model copied the player: the media Filter adds no second one
    assert saved["content"].count("<video>") == 1 and player in saved["content"]


async def test_unnamed_the_tool_uses_the_admins_default_workflow_and_the_users_defaults(
    api: httpx.AsyncClient,  # noqa: F811
    admin: Account,
    user: Account,
    comfy: ThreadedDouble,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
    six_steps_by_default: None,
) -> None:
    # As seen on a real ComfyUI: the Tool took the first txt2img workflow by name
    # (sd15_hires_txt2img) and ran its 12-step second pass beside the user's 6 steps.
    settings = (await api.get("/api/v1/comfyui/settings", headers=admin.headers)).json()
    scripted.script = calls("generate_image", prompt="a harbour at dawn")
    recorder = await socket_for(user)
    received_before = len(comfy.double.prompts_received)

    turn = await ask_model(api, user, recorder, "Draw a harbour")
    await recorder.wait_done(turn[1])

    assert settings["default_workflow"] == "sd15_txt2img"
    assert (await made_by(api, user, turn))["workflow"] == "sd15_txt2img"
    assert sum(steps_received(comfy, received_before)) == 6


async def test_the_chat_uses_the_users_default_steps_as_the_tool_does(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    comfy: ThreadedDouble,
    socket_for: Any,  # noqa: F811
    six_steps_by_default: None,
) -> None:
    recorder = await socket_for(user)
    received_before = len(comfy.double.prompts_received)

    turn = await send_chat(api, user, recorder, "a harbour at dawn")
    await recorder.wait_done(turn[1])

    assert steps_received(comfy, received_before) == [6]
    assert (await made_by(api, user, turn))["steps"] == 6


async def test_a_refusal_names_only_the_workflows_the_user_may_use(
    api: httpx.AsyncClient,  # noqa: F811
    user: Account,
    comfy: ThreadedDouble,
    scripted: ScriptedModel,
    socket_for: Any,  # noqa: F811
    restricted_models: tuple[str, str],
) -> None:
    recorder = await socket_for(user)
    received_before = len(comfy.double.prompts_received)
    scripted.script = calls("generate_image", prompt="a castle", workflow="castle_v2")

    turn = await ask_model(api, user, recorder, "A castle with castle_v2")
    await recorder.wait_done(turn[1])
    through_the_api = await api.post(
        "/api/v1/comfyui/generate",
        headers=user.headers,
        json={"workflow": "castle_v2", "prompt": "a castle"},
    )

    result = scripted.tool_results()[-1]
    assert result.startswith("Nothing was made: There is no workflow 'castle_v2'."), result
    named = set(result.split("Available: ", 1)[1].removesuffix(".").split(", "))
    assert "sd15_txt2img" in named and not set(restricted_models) & named, result
    assert through_the_api.status_code == 404
    assert result == f"Nothing was made: {through_the_api.json()['detail']}"
    assert len(comfy.double.prompts_received) == received_before
