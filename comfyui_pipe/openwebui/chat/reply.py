"""What a chat message says about a job: the text under its results (or why there are
none), and what a tool-calling model is told. Every chat surface words its reply here."""

from __future__ import annotations

import re

from comfyui_pipe.generation.records import JobState
from comfyui_pipe.generation.sink import StoredFile
from comfyui_pipe.openwebui.chat.job import FinishedJob
from comfyui_pipe.openwebui.chat.progress import done_status
from comfyui_pipe.openwebui.presenter import describe_failure

CANCELLED_MESSAGE = "⏹️ Generation cancelled."


def reply(finished: FinishedJob) -> str:
    """The message's text: the caption under the results, then the players and texts of
    its outputs; or why there are none."""
    record = finished.record
    if record.state is JobState.CANCELLED:
        return CANCELLED_MESSAGE
    if not finished.succeeded:
        return failure_message(failure_sentence(finished))
    body = result_body(finished)
    caption = summarize(finished)
    return f"{caption}\n\n{body}" if body else caption


def failure_sentence(finished: FinishedJob) -> str:
    """Why the job made nothing."""
    failure = finished.record.failure
    return describe_failure(failure) if failure is not None else "The generation failed."


def failure_message(sentence: str) -> str:
    """The chat's text for a generation that made nothing."""
    return f"⚠️ {sentence}"


def nothing_made(sentence: str) -> str:
    """What a tool-calling model is told when nothing was made."""
    return f"Nothing was made: {sentence}"


def summarize(finished: FinishedJob) -> str:
    """The line under the images, e.g. ``Done in 14.2 s · seed 1234 · SDXL · sd_xl_base ·
    30 steps · cfg 6 · 1024×1024 · LoRA detail:0.8``."""
    params = finished.record.params
    parts = [done_status(finished.record, finished.elapsed)]
    if params.get("title"):
        parts.append(str(params["title"]))
    if params.get("model"):
        parts.append(str(params["model"]).removesuffix(".safetensors"))
    if params.get("steps") is not None:
        parts.append(f"{params['steps']} steps")
    if params.get("cfg") is not None:
        parts.append(f"cfg {params['cfg']:g}")
    if params.get("width") and params.get("height"):
        parts.append(f"{params['width']}×{params['height']}")
    for lora in params.get("loras") or []:
        parts.append(f"LoRA {lora['name']}:{lora['strength']:g}")
    return " · ".join(parts)


def model_summary(finished: FinishedJob, workflow_title: str) -> str:
    """What the model reads: the outcome in a sentence or two, with the file references."""
    record = finished.record
    if not finished.succeeded:
        return nothing_made(failure_sentence(finished))
    params = record.params
    videos = [f for f in finished.files if f.content_type.startswith("video/")]
    noun = "video" if videos else "image"
    made = f"{len(finished.files)} {noun}{'s' if len(finished.files) != 1 else ''}"
    details = [f"seed {params['seed']}"] if params.get("seed") is not None else []
    if params.get("width") and params.get("height"):
        details.insert(0, f"{params['width']}×{params['height']}")
    details.append(f"{finished.elapsed:.1f} s")
    references = ", ".join(file.url for file in finished.files)
    summary = (
        f"Made {made} with {workflow_title} ({', '.join(details)}); the user already sees "
        f"{'them' if len(finished.files) != 1 else 'it'} in the chat, so do not repeat or link "
        f"the file. Files: {references}."
    )
    players = "\n\n".join(player for player in map(media_player, finished.files) if player)
    if players:
        summary += f" To show the player in your reply, include these lines exactly:\n\n{players}"
    return summary


def result_body(finished: FinishedJob) -> str:
    """What the message text shows under its caption: a player for each video and audio
    file, then each text output. Images need nothing: the message's files show them."""
    parts = [player for player in map(media_player, finished.files) if player]
    parts += [literal_block(text) for text in finished.texts]
    return "\n\n".join(parts)


def media_player(file: StoredFile) -> str:
    """Open WebUI 0.12 plays ``<video>`` / ``<audio>`` only as an HTML block of the message
    text: the tag on a line of its own, its URL between, separated by blank lines."""
    for kind in ("video", "audio"):
        if file.content_type.startswith(f"{kind}/"):
            return f"<{kind}>\n{file.url}\n</{kind}>"
    return ""


def literal_block(text: str) -> str:
    """``text`` shown as it is (a fenced block longer than any backtick run inside it)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"
