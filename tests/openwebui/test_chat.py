"""Chat generation through the real Open WebUI: models, progress over Socket.IO,
stored images, img2img, Stop, and failures as readable messages."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest
import socketio
from PIL import Image

from openwebui.harness import (
    Account,
    OpenWebUIServer,
    ThreadedDouble,
    free_port,
    valves_changed,
)

MODEL = "comfyui.sd15_txt2img"
IMG2IMG_MODEL = "comfyui.sd15_img2img"
EVENT_TIMEOUT = 30.0

Event = dict[str, Any]
Turn = tuple[str, str]
"""A chat id and the id of the assistant message answering there."""


class SocketRecorder:
    """A real python-socketio client in a user's room, keeping every ``events`` payload."""

    def __init__(self, url: str, account: Account) -> None:
        self._url = url
        self._account = account
        self.client = socketio.AsyncClient()
        self.events: list[Event] = []
        self._arrived = asyncio.Condition()
        self.client.on("events", self._record)

    async def _record(self, payload: Event) -> None:
        async with self._arrived:
            self.events.append(payload)
            self._arrived.notify_all()

    async def __aenter__(self) -> SocketRecorder:
        await self.client.connect(
            self._url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            auth={"token": self._account.token},
            wait_timeout=EVENT_TIMEOUT,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.disconnect()

    @property
    def session_id(self) -> str:
        return self.client.get_sid("/")

    def of(self, message_id: str, kind: str) -> list[Any]:
        return [
            event["data"].get("data")
            for event in self.events
            if event.get("message_id") == message_id and event["data"].get("type") == kind
        ]

    def statuses(self, message_id: str) -> list[str]:
        return [status["description"] for status in self.of(message_id, "status")]

    async def wait_for(self, found: Callable[[], Any], within: float = EVENT_TIMEOUT) -> Any:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(found)
        return found()

    async def wait_done(self, message_id: str, within: float = EVENT_TIMEOUT) -> None:
        """Until Open WebUI reports the response finished (or stopped) for that message."""
        await self.wait_for(
            lambda: (
                any(data and data.get("done") for data in self.of(message_id, "chat:completion"))
                or self.of(message_id, "chat:tasks:cancel")
            ),
            within,
        )


@pytest.fixture
async def socket_for(owui: OpenWebUIServer) -> AsyncIterator[Callable[[Account], Any]]:
    recorders: list[SocketRecorder] = []

    async def connect(account: Account) -> SocketRecorder:
        recorder = await SocketRecorder(owui.url, account).__aenter__()
        recorders.append(recorder)
        return recorder

    yield connect
    for recorder in recorders:
        await recorder.__aexit__(None, None, None)


@pytest.fixture
async def api(owui: OpenWebUIServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=owui.url, timeout=EVENT_TIMEOUT) as client:
        yield client


@pytest.fixture
def slow_steps(comfy: ThreadedDouble) -> Any:
    """Sampling slow enough to watch progress and to press Stop in the middle."""
    previous = comfy.double.step_seconds
    comfy.double.step_seconds = 0.2
    yield
    comfy.double.step_seconds = previous


async def send_chat(
    http: httpx.AsyncClient,
    account: Account,
    recorder: SocketRecorder,
    text: str,
    *,
    model: str = MODEL,
    attachments: Sequence[Event] = (),
    earlier: Turn | None = None,
    earlier_files: Sequence[Event] = (),
) -> Turn:
    """Send a message to a saved chat the way the web UI does; returns the reply's ids.

    Without ``earlier`` a new chat is created first; with it, the message follows that
    reply in the same chat. Like the UI, the request's ``files`` repeat the non-image
    files attached earlier in the chat (``earlier_files``) besides this message's own.
    """
    if earlier is None:
        created = await http.post(
            "/api/v1/chats/new",
            headers=account.headers,
            json={"chat": {"title": "Test", "models": [model], "history": {"messages": {}}}},
        )
        created.raise_for_status()
        chat_id, parent_id = created.json()["id"], None
    else:
        chat_id, parent_id = earlier
    user_message_id, reply_id = str(uuid.uuid4()), str(uuid.uuid4())
    user_message = {
        "id": user_message_id,
        "role": "user",
        "content": text,
        "parentId": parent_id,
        "childrenIds": [],
        "models": [model],
        "timestamp": int(time.time()),
        **({"files": list(attachments)} if attachments else {}),
    }
    files = [*earlier_files, *(f for f in attachments if not is_image(f))]
    response = await http.post(
        "/api/chat/completions",
        headers=account.headers,
        json={
            "model": model,
            "stream": True,
            "messages": [{"role": "user", "content": text}],
            "chat_id": chat_id,
            "id": reply_id,
            "parent_id": parent_id,
            "session_id": recorder.session_id,
            "user_message": user_message,
            **({"files": files} if files else {}),
        },
    )
    response.raise_for_status()
    return chat_id, reply_id


async def upload(
    http: httpx.AsyncClient, account: Account, name: str, data: bytes, content_type: str
) -> Event:
    """A file uploaded as the chat input does, as the attachment item it then sends."""
    response = await http.post(
        "/api/v1/files/?process=false",
        headers=account.headers,
        files={"file": (name, data, content_type)},
    )
    response.raise_for_status()
    uploaded = response.json()
    return {
        "type": "file",
        "file": uploaded,
        "id": uploaded["id"],
        "url": uploaded["id"],
        "name": name,
        "content_type": content_type,
        "status": "uploaded",
        "size": len(data),
    }


def is_image(attachment: Event) -> bool:
    return attachment["content_type"].startswith("image/")


async def saved_message(http: httpx.AsyncClient, account: Account, turn: Turn) -> Event:
    chat_id, message_id = turn
    response = await http.get(f"/api/v1/chats/{chat_id}", headers=account.headers)
    response.raise_for_status()
    return response.json()["chat"]["history"]["messages"][message_id]


async def jobs_of(http: httpx.AsyncClient, account: Account) -> list[Event]:
    response = await http.get("/api/v1/comfyui/jobs?limit=100", headers=account.headers)
    response.raise_for_status()
    return response.json()["items"]


def assert_nothing_left(comfy: ThreadedDouble) -> None:
    assert comfy.double.queue_pending == [] and comfy.double.running is None


def png_bytes(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    return buffer.getvalue()


PHASES = (
    ("Waiting for ComfyUI", "Queued", "Starting"),
    ("Loading model", "Encoding image", "Running"),
    ("Sampling",),
    ("Decoding", "Upscaling", "Saving"),
    ("Done",),
)


def phase_rank(status: str) -> int:
    """Where a status stands in a txt2img run: waiting, preparing, sampling, finishing, done."""
    ranks = [rank for rank, starts in enumerate(PHASES) if status.startswith(starts)]
    assert ranks, f"unexpected status {status!r}"
    return ranks[0]


def sampled_steps(statuses: list[str]) -> list[int]:
    """``Sampling 3/6 · 53% · ~1 s left`` → 3."""
    return [int(s.split()[1].split("/")[0]) for s in statuses if s.startswith("Sampling")]


def test_user_finds_one_model_per_workflow(http: httpx.Client, user: Account) -> None:
    response = http.get("/api/models", headers=user.headers)
    response.raise_for_status()
    names = {model["id"]: model["name"] for model in response.json()["data"]}
    assert MODEL in names and IMG2IMG_MODEL in names
    assert all(names[m].startswith("ComfyUI · ") for m in names if m.startswith("comfyui."))


async def test_chat_generation_shows_progress_and_stores_the_image(
    api: httpx.AsyncClient,
    user: Account,
    other_user: Account,
    comfy: ThreadedDouble,
    socket_for: Any,
    slow_steps: Any,
) -> None:
    recorder = await socket_for(user)
    turn = await send_chat(api, user, recorder, "a red fox --steps 6 --seed 1234")
    await recorder.wait_done(turn[1])

    statuses = recorder.statuses(turn[1])
    ranks = [phase_rank(s) for s in statuses]
    assert ranks == sorted(ranks), statuses
    assert phase_rank(statuses[0]) < phase_rank("Sampling"), statuses
    assert len(sampled_steps(statuses)) >= 2, statuses
    assert sampled_steps(statuses) == sorted(sampled_steps(statuses))
    assert statuses[-1].startswith("Done in") and "seed 1234" in statuses[-1]
    assert comfy.url.removeprefix("http://") not in str(recorder.events)

    *previews, final = [event["files"] for event in recorder.of(turn[1], "files")]
    assert previews and all(f[0]["url"].startswith("data:image/") for f in previews)
    [image] = final
    assert image["type"] == "image" and image["url"] == f"/api/v1/files/{image['id']}/content"

    content = await api.get(image["url"], headers=user.headers)
    assert content.status_code == 200 and content.content.startswith(b"\x89PNG")
    assert (await api.get(image["url"], headers=other_user.headers)).status_code == 404
    described = await api.get(f"/api/v1/files/{image['id']}", headers=user.headers)
    assert described.json()["meta"]["comfyui"]["seed"] == 1234

    saved = await saved_message(api, user, turn)
    assert saved["statusHistory"][-1]["done"] is True
    assert saved["statusHistory"][-1]["description"] == statuses[-1]
    assert not any("Sampling" in s["description"] for s in saved["statusHistory"])
    assert [f["id"] for f in saved["files"]] == [image["id"]]
    assert "seed 1234" in saved["content"] and "6 steps" in saved["content"]


async def test_image_attached_to_the_message_reaches_load_image(
    api: httpx.AsyncClient, user: Account, comfy: ThreadedDouble, socket_for: Any
) -> None:
    recorder = await socket_for(user)
    notes = await upload(api, user, "notes.pdf", b"%PDF-1.4 not an image", "application/pdf")
    first = await send_chat(
        api, user, recorder, "use this", model=IMG2IMG_MODEL, attachments=[notes]
    )
    await recorder.wait_done(first[1])
    photo = await upload(api, user, "photo.png", png_bytes("blue"), "image/png")
    received_before = len(comfy.double.prompts_received)

    # The PDF of the first message comes along again, as the web UI sends it.
    second = await send_chat(
        api,
        user,
        recorder,
        "make it stormy",
        model=IMG2IMG_MODEL,
        attachments=[photo],
        earlier=first,
        earlier_files=[notes],
    )
    await recorder.wait_done(second[1])

    saved = await saved_message(api, user, second)
    assert saved["content"].startswith("Done in"), saved["content"]
    assert len(saved["files"]) == 1
    graph = comfy.double.prompts_received[received_before]["prompt"]
    loaded = [
        node["inputs"]["image"] for node in graph.values() if node["class_type"] == "LoadImage"
    ]
    assert len(loaded) == 1 and comfy.double.uploaded[loaded[0]] == png_bytes("blue")


async def test_stop_cancels_only_that_job(
    api: httpx.AsyncClient,
    user: Account,
    other_user: Account,
    comfy: ThreadedDouble,
    socket_for: Any,
    slow_steps: Any,
) -> None:
    mine, theirs = await socket_for(user), await socket_for(other_user)
    received_before = len(comfy.double.prompts_received)
    my_turn = await send_chat(api, user, mine, "a storm --steps 40")
    await mine.wait_for(
        lambda: sampled_steps([s["description"] for s in mine.of(my_turn[1], "status")])
    )
    their_turn = await send_chat(api, other_user, theirs, "a calm lake --steps 4")
    await theirs.wait_for(
        lambda: any(
            s["description"].startswith("Queued") for s in theirs.of(their_turn[1], "status")
        )
    )

    stopped = await api.post(f"/api/tasks/chat/{my_turn[0]}/stop", headers=user.headers)
    assert stopped.status_code == 200 and stopped.json()["status"] is True

    saved = await saved_message(api, user, my_turn)
    assert saved["statusHistory"][-1]["description"] == "Cancelled"
    assert "cancelled" in saved["content"].lower()
    my_prompt_id = comfy.double.prompts_received[received_before]["prompt_id"]
    await theirs.wait_done(their_turn[1])
    other_saved = await saved_message(api, other_user, their_turn)
    assert other_saved["statusHistory"][-1]["description"].startswith("Done in")
    assert len(other_saved["files"]) == 1
    assert comfy.double.history[my_prompt_id]["status"]["status_str"] != "success"
    [my_job] = [job for job in await jobs_of(api, user) if job["message_id"] == my_turn[1]]
    assert my_job["state"] == "cancelled"
    comfy.run(comfy.double.wait_idle())
    assert_nothing_left(comfy)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a castle --size 8192x8192", "above the maximum"),
        ("a castle <lora:does_not_exist:0.8>", "does_not_exist"),
    ],
    ids=["oversized", "missing-model"],
)
async def test_refused_request_is_a_chat_message(
    api: httpx.AsyncClient,
    user: Account,
    comfy: ThreadedDouble,
    socket_for: Any,
    text: str,
    expected: str,
) -> None:
    recorder = await socket_for(user)
    received_before = len(comfy.double.prompts_received)
    turn = await send_chat(api, user, recorder, text)
    await recorder.wait_done(turn[1])

    saved = await saved_message(api, user, turn)
    assert saved["content"].startswith("⚠️") and expected in saved["content"]
    assert "Traceback" not in saved["content"]
    assert len(comfy.double.prompts_received) == received_before
    assert_nothing_left(comfy)


async def test_non_image_attachment_is_a_chat_message(
    api: httpx.AsyncClient, user: Account, comfy: ThreadedDouble, socket_for: Any
) -> None:
    recorder = await socket_for(user)
    notes = await upload(api, user, "notes.pdf", b"%PDF-1.4 not an image", "application/pdf")
    received_before = len(comfy.double.prompts_received)
    turn = await send_chat(
        api, user, recorder, "use this", model=IMG2IMG_MODEL, attachments=[notes]
    )
    await recorder.wait_done(turn[1])

    saved = await saved_message(api, user, turn)
    assert saved["content"].startswith("⚠️") and "'notes.pdf' is not an image" in saved["content"]
    assert len(comfy.double.prompts_received) == received_before
    assert_nothing_left(comfy)


@pytest.fixture
def comfyui_unreachable(http: httpx.Client, admin: Account) -> Any:
    """The admin points the valves at a port where nothing listens, then restores them."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    with valves_changed(http, admin, comfyui_url=nowhere):
        yield nowhere


async def test_comfyui_down_is_a_chat_message(
    api: httpx.AsyncClient,
    user: Account,
    comfy: ThreadedDouble,
    socket_for: Any,
    comfyui_unreachable: str,
) -> None:
    recorder = await socket_for(user)
    received_before = len(comfy.double.prompts_received)
    turn = await send_chat(api, user, recorder, "a quiet harbour")
    await recorder.wait_done(turn[1])

    saved = await saved_message(api, user, turn)
    assert saved["content"].startswith("⚠️") and "not reachable" in saved["content"]
    assert comfyui_unreachable.removeprefix("http://") not in str(saved)
    assert len(comfy.double.prompts_received) == received_before
    assert not [j for j in await jobs_of(api, user) if j["state"] in ("queued", "running")]


def test_title_generation_starts_no_generation_and_leaves_the_options_out(
    http: httpx.Client, user: Account, comfy: ThreadedDouble
) -> None:
    received_before = len(comfy.double.prompts_received)
    prompt = "a red fox --steps 4 --seed 7 <lora:detail:0.5>"
    response = http.post(
        "/api/v1/tasks/title/completions",
        headers=user.headers,
        json={"model": MODEL, "messages": [{"role": "user", "content": prompt}]},
    )
    response.raise_for_status()
    answer = response.json()["choices"][0]["message"]["content"]
    assert json.loads(answer) == {"title": "a red fox"}
    assert len(comfy.double.prompts_received) == received_before
