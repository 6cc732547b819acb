"""Scheduling on four ComfyUI servers of mixed speed, against the best whole-job schedule.

    .venv/bin/python bench/scheduling.py [--repeats 1] [--switch 2 0] [--seed 21]
        [--label new] [--report runs.jsonl] [--timeline]
    .venv/bin/python bench/scheduling.py --summarise runs.jsonl

One real Open WebUI with the plugin (a child process, as in ``against_builtin.py``) in
front of four ComfyUI doubles at 0.02 / 0.04 / 0.08 / 0.16 s per step. Each double
holds one checkpoint (``model_memory=1``) and takes ``--switch`` seconds to load
another (``load_seconds``). Three users ask for 24 jobs of three checkpoints (one
workflow each) and 3, 6 or 12 steps: the first 12 at once, the second 6 jobs 50 ms
later, the third 6 jobs 50 ms after that. For each switch cost, a fresh Open WebUI
runs the job set twice on the same doubles: **cold** (the plugin knows nothing of the
servers) and **warm** (what it learnt in the cold round).

Measured per round: the makespan (first request to last job's end, as its owner's
Socket.IO client hears it) against the **best whole-job schedule** of that job set
(``best_schedule.py``: exact, from each server's own job lengths measured first and
the checkpoint each double holds when the round starts), and against the same with
each server's lengths scaled to how fast it ran this round's jobs (the doubles share
two CPUs with Open WebUI, which works hardest during a round), also counted on the
servers alone (first job's start to last job's end there); the checkpoint loads of the
round against the best schedule's; the time from the second user's requests to the
first of their jobs running, over a job's length on the fastest server (the mean over
the job set); the ETA
each job showed when queued (its first ``comfyui:job`` event with one) against when
it ended: |shown end − actual end| / (actual end − request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import httpx
from against_builtin import (
    API,
    RUN_TIMEOUT,
    TXT2IMG,
    TXT2IMG_WORKLOAD,
    Account,
    OpenWebUIProcess,
    Workload,
    _tag_of,
    add_user,
    sign_up,
    upload_workflow,
)
from best_schedule import Kind, best_schedule
from openwebui.harness import ThreadedDouble

STEP_SECONDS = (0.02, 0.04, 0.08, 0.16)
CHECKPOINTS = ("ckpt_a.safetensors", "ckpt_b.safetensors", "ckpt_c.safetensors")
MODELS = {"checkpoints": list(CHECKPOINTS)}
STEPS = (3, 6, 12)
USERS = ((12, 0.0), (6, 0.05), (6, 0.10))
"""Each user's jobs and when they ask (seconds after the first)."""
ROUNDS = ("cold", "warm")


@dataclass(frozen=True)
class Job:
    user: int
    checkpoint: str
    steps: int


def job_set(seed: int) -> list[Job]:
    rng = random.Random(seed)
    return [
        Job(user, rng.choice(CHECKPOINTS), rng.choice(STEPS))
        for user, (count, _) in enumerate(USERS)
        for _ in range(count)
    ]


def workload(checkpoint: str) -> Workload:
    graph = json.loads(json.dumps(TXT2IMG))
    graph["4"]["inputs"]["ckpt_name"] = checkpoint
    name = checkpoint.split(".")[0]
    return Workload(f"txt2img {name}", f"bench_{name}", graph, TXT2IMG_WORKLOAD.mapping, None)


@dataclass(frozen=True)
class Lengths:
    """Each server's seconds for a job: fixed + per step × steps (measured on it)."""

    fixed: tuple[float, ...]
    per_step: tuple[float, ...]

    def of(self, steps: int) -> tuple[float, ...]:
        return tuple(f + p * steps for f, p in zip(self.fixed, self.per_step, strict=True))


@dataclass(frozen=True)
class RoundResult:
    label: str
    switch: float
    round: str
    makespan: float
    best: float
    """From each server's job lengths measured before the round."""
    best_in_round: float
    """The same, each server's lengths scaled to how fast it ran this round's jobs."""
    on_servers: float
    """From the round's first job starting on a server to its last ending on one: the
    makespan without the first request's way in and the last job's outputs' way out."""
    switches: int
    best_switches: int
    second_wait: float
    """From the second user's requests to the first of their jobs running."""
    second_accepted: float
    """From their requests to the first 202 (Open WebUI busy with the first batch)."""
    fastest_job: float
    """A job's length on the fastest server, on average over the job set."""
    eta_errors: tuple[float, ...]
    """One per job that showed an ETA when queued."""


_seeds = itertools.count(10**6)


async def measure_lengths(urls: Sequence[str], holds: Sequence[str]) -> Lengths:
    """A 3- and a 12-step job on every server at once (twice), on the checkpoint it holds
    (the first it has, for one holding none)."""

    async def one(http: httpx.AsyncClient, url: str, checkpoint: str, steps: int) -> float:
        graph = workload(checkpoint).graph
        graph["3"]["inputs"].update(seed=next(_seeds), steps=steps)
        started = time.monotonic()
        reply = await http.post(f"{url}/prompt", json={"prompt": graph})
        prompt_id = reply.json()["prompt_id"]
        while not (await http.get(f"{url}/history/{prompt_id}")).json():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return time.monotonic() - started

    short, long = [], []
    async with httpx.AsyncClient(timeout=RUN_TIMEOUT) as http:
        # first its checkpoint loaded (a double that holds none), then measured twice
        await asyncio.gather(*(one(http, u, c, 3) for u, c in zip(urls, holds, strict=True)))
        for _ in range(2):
            for steps, into in ((3, short), (12, long)):
                pairs = zip(urls, holds, strict=True)
                into.append(await asyncio.gather(*(one(http, u, c, steps) for u, c in pairs)))
    mean_short = [statistics.mean(run[s] for run in short) for s in range(len(urls))]
    mean_long = [statistics.mean(run[s] for run in long) for s in range(len(urls))]
    per_step = tuple((b - a) / 9 for a, b in zip(mean_short, mean_long, strict=True))
    fixed = tuple(a - 3 * p for a, p in zip(mean_short, per_step, strict=True))
    return Lengths(fixed, per_step)


class Setup:
    """Open WebUI, three signed-in users, four doubles; one switch cost."""

    def __init__(self, doubles: list[ThreadedDouble], switch: float, label: str) -> None:
        self.doubles, self.switch, self.label = doubles, switch, label
        self.tags = itertools.count(1)
        self._eta_errors: list[float] = []

    async def run(self, jobs: list[Job], timeline: bool) -> list[RoundResult]:
        for comfy in self.doubles:
            comfy.double.memory.load_seconds = self.switch
        owui = OpenWebUIProcess(",".join(comfy.url for comfy in self.doubles))
        try:
            await owui.started()
            admin = Account(owui.url, await sign_up(owui.url, "Bench Admin", "bench@example.com"))
            users = [admin] + [
                Account(owui.url, await add_user(admin, f"User {n}", f"user{n}@example.com"))
                for n in (2, 3)
            ]
            for account in users:
                await account.connect()
            for checkpoint in CHECKPOINTS:
                await upload_workflow(admin, workload(checkpoint))
            results = []
            for name in ROUNDS:
                since = time.time()
                results.append(await self._round(name, users, jobs))
                if timeline:
                    print(f"{name} round:\n{format_timeline(self.doubles, since)}", flush=True)
                    health = await admin.http.get(f"{API}/health", headers=admin.headers)
                    learnt = [backend.get("learnt") for backend in health.json()["backends"]]
                    print(json.dumps(learnt, indent=1), flush=True)
            for account in users:
                await account.close()
            return results
        finally:
            owui.stop()

    async def _round(self, name: str, users: list[Account], jobs: list[Job]) -> RoundResult:
        memories = [comfy.double.memory for comfy in self.doubles]
        holds = [memory.loaded[-1] if memory.loaded else None for memory in memories]
        lengths = await measure_lengths(
            [d.url for d in self.doubles], [h or CHECKPOINTS[0] for h in holds]
        )
        holds = [memory.loaded[-1] if memory.loaded else None for memory in memories]
        loads = [len(memory.loads) for memory in memories]
        self._eta_errors = []
        since = time.time()
        started = time.monotonic()
        runs = await asyncio.gather(
            *(
                self._user(users[u], [j for j in jobs if j.user == u], delay)
                for u, (_, delay) in enumerate(USERS)
            )
        )
        makespan = max(times[-1] for run in runs for times in run) - started
        best = best_schedule(
            [Kind(j.checkpoint, lengths.of(j.steps)) for j in jobs], self.switch, holds
        )
        pace = in_round_pace(self.doubles, since, lengths, self.switch)
        spans = [span for comfy in self.doubles for span in _spans(comfy, since)]
        in_round = best_schedule(
            [Kind(j.checkpoint, _scaled(lengths.of(j.steps), pace)) for j in jobs],
            self.switch,
            holds,
        )
        second = runs[1]
        asked = min(times[0] for times in second)
        second_wait = min(times[2] for times in second) - asked
        second_accepted = min(times[1] for times in second) - asked
        return RoundResult(
            self.label,
            self.switch,
            name,
            makespan,
            best.makespan,
            in_round.makespan,
            max(end for _, end in spans) - min(start for start, _ in spans),
            sum(len(memory.loads) for memory in memories) - sum(loads),
            best.switches,
            second_wait,
            second_accepted,
            statistics.mean(min(lengths.of(job.steps)) for job in jobs),
            tuple(self._eta_errors),
        )

    async def _user(
        self, account: Account, jobs: list[Job], delay: float
    ) -> list[tuple[float, float, float, float]]:
        """(asked, accepted, running, ended) of each job, in ``jobs`` order."""
        await asyncio.sleep(delay)
        return list(await asyncio.gather(*(self._one(account, job) for job in jobs)))

    async def _one(self, account: Account, job: Job) -> tuple[float, float, float, float]:
        tag = next(self.tags)
        body = {"workflow": workload(job.checkpoint).workflow_id, "prompt": f"bench job {tag}",
                "seed": tag, "steps": job.steps}  # fmt: skip
        asked = time.monotonic()
        job_id = str((await account.post(f"{API}/generate", body))["id"])
        accepted = time.monotonic()
        ended = await _ended(account, job_id)
        events = account.events.get(job_id, [])
        running = next((e.received_at for e in events if e.data["state"] == "running"), ended)
        shown = next(
            (e for e in events if e.data.get("eta") is not None and e.data["state"] == "queued"),
            None,
        )
        if shown is not None:
            expected_end = shown.received_at + shown.data["eta"]
            self._eta_errors.append(abs(expected_end - ended) / (ended - asked))
        return asked, accepted, running, ended


def in_round_pace(
    doubles: Sequence[ThreadedDouble], since: float, lengths: Lengths, switch: float
) -> tuple[float, ...]:
    """How much slower than measured before the round each server ran the round's jobs
    (the median over its jobs that loaded no checkpoint; Open WebUI's work in the round
    slows the doubles that share its CPUs), else as the others did."""
    paces: list[float | None] = []
    for index, comfy in enumerate(doubles):
        ratios = []
        for prompt_id, entry in list(comfy.double.history.items()):
            times = comfy.double.state.times.get(prompt_id)
            prompt = entry["prompt"][2]
            if _tag_of(prompt) is None or times is None or not times.started or not times.ended:
                continue
            if entry["prompt"][3].get("create_time", 0) / 1000 < since:
                continue
            expected = lengths.of(prompt["3"]["inputs"]["steps"])[index]
            ran = (times.ended - times.started) / 1000
            if switch == 0 or ran - expected < switch / 2:  # it loaded nothing
                ratios.append(ran / expected)
        paces.append(statistics.median(ratios) if ratios else None)
    known = [pace for pace in paces if pace is not None]
    usual = statistics.median(known) if known else 1.0
    return tuple(pace if pace is not None else usual for pace in paces)


def _spans(comfy: ThreadedDouble, since: float) -> list[tuple[float, float]]:
    """(start, end) of each of the round's jobs on ``comfy``, wall clock seconds."""
    spans = []
    for prompt_id, entry in list(comfy.double.history.items()):
        times = comfy.double.state.times.get(prompt_id)
        if _tag_of(entry["prompt"][2]) is None or times is None or not times.started:
            continue
        if entry["prompt"][3].get("create_time", 0) / 1000 >= since and times.ended:
            spans.append((times.started / 1000, times.ended / 1000))
    return spans


def _scaled(seconds: tuple[float, ...], pace: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(s * p for s, p in zip(seconds, pace, strict=True))


async def _ended(account: Account, job_id: str) -> float:
    """When the job's end reached its owner (monotonic): its last Socket.IO event, or
    when the socket lost it (python-socketio drops a packet now and then), its record's
    end as the API tells it."""
    ending = asyncio.ensure_future(account.ended(job_id))
    while True:
        done, _ = await asyncio.wait([ending], timeout=3.0)
        if done:
            end = ending.result()
            if end["state"] != "completed":
                raise RuntimeError(f"job {job_id}: {end}")
            return account.events[job_id][-1].received_at
        job = (await account.http.get(f"{API}/jobs/{job_id}", headers=account.headers)).json()
        if job["state"] == "completed":
            ending.cancel()
            finished = datetime.fromisoformat(job["finished_at"]).timestamp()
            return time.monotonic() - (time.time() - finished)
        if job["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"job {job_id}: {job}")


def format_timeline(doubles: Sequence[ThreadedDouble], since: float) -> str:
    """Each prompt a server took since ``since`` (wall clock): when it was queued there,
    started and ended, in seconds from ``since``, by server and start."""
    lines = ["| server | job | queued | started | ended | ran |", "|---" * 6 + "|"]
    for index, comfy in enumerate(doubles):
        rows = []
        for prompt_id, entry in list(comfy.double.history.items()):
            queued_ms = entry["prompt"][3].get("create_time", 0)
            times = comfy.double.state.times.get(prompt_id)
            if queued_ms / 1000 < since or times is None or times.started is None:
                continue
            prompt = entry["prompt"][2]
            steps = prompt["3"]["inputs"]["steps"]
            checkpoint = prompt["4"]["inputs"]["ckpt_name"].split(".")[0]
            queued, started = queued_ms / 1000 - since, times.started / 1000 - since
            ended = (times.ended or 0) / 1000 - since
            rows.append((started, f"{_tag_of(prompt)} {checkpoint} {steps}", queued, ended))
        for started, job, queued, ended in sorted(rows):
            lines.append(
                f"| {index} ({comfy.double.step_seconds} s/step) | {job} | {queued:.2f} "
                f"| {started:.2f} | {ended:.2f} | {ended - started:.2f} |"
            )
    return "\n".join(lines)


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def format_rounds(results: Sequence[RoundResult]) -> str:
    lines = [
        "| code | switch | round | makespan | best | ÷ best | best in round | ÷ it "
        "| on the servers ÷ it | loads | best's | second user waits | ÷ fastest job "
        "| ETA error p50 | p90 |",
        "|---" * 15 + "|",
    ]
    for r in results:
        etas = (
            f"{_percentile(r.eta_errors, 0.5):.0%} | {_percentile(r.eta_errors, 0.9):.0%}"
            if r.eta_errors
            else "– | –"
        )
        lines.append(
            f"| {r.label} | {r.switch:g} s | {r.round} | {r.makespan:.2f} s | {r.best:.2f} s "
            f"| {r.makespan / r.best:.2f} | {r.best_in_round:.2f} s "
            f"| {r.makespan / r.best_in_round:.2f} | {r.on_servers / r.best_in_round:.2f} "
            f"| {r.switches} | {r.best_switches} "
            f"| {r.second_wait:.2f} s ({r.second_accepted:.2f} s to 202) "
            f"| {r.second_wait / r.fastest_job:.2f} | {etas} |"
        )
    return "\n".join(lines)


def summarise(results: Sequence[RoundResult]) -> str:
    """Per code, switch cost and round: the median and range of each ratio."""
    groups: dict[tuple[str, float, str], list[RoundResult]] = {}
    for result in results:
        groups.setdefault((result.label, result.switch, result.round), []).append(result)
    lines = [
        "| code | switch | round | runs | makespan ÷ best | ÷ best in round | on the servers "
        "÷ best in round | loads − best's | second user ÷ fastest job | their 202 ÷ fastest "
        "job | ETA error p50 | ETA error p90 |",
        "|---" * 12 + "|",
    ]
    for (label, switch, name), runs in groups.items():
        cells = [
            [r.makespan / r.best for r in runs],
            [r.makespan / r.best_in_round for r in runs],
            [r.on_servers / r.best_in_round for r in runs],
            [r.switches - r.best_switches for r in runs],
            [r.second_wait / r.fastest_job for r in runs],
            [r.second_accepted / r.fastest_job for r in runs],
        ]
        text = [_spread(values, "{:.2f}") for values in cells]
        if switch == 0:
            text[3] = "–"  # loading takes no time: any number of loads is as good
        if all(r.eta_errors for r in runs):
            text.append(_spread([_percentile(r.eta_errors, 0.5) for r in runs], "{:.0%}"))
            text.append(_spread([_percentile(r.eta_errors, 0.9) for r in runs], "{:.0%}"))
        else:
            text += ["–", "–"]
        lines.append(
            f"| {label} | {switch:g} s | {name} | {len(runs)} | " + " | ".join(text) + " |"
        )
    return "\n".join(lines)


def _spread(values: Sequence[float], spec: str) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return spec.format(median)
    return f"{spec.format(median)} ({spec.format(min(values))}–{spec.format(max(values))})"


async def run(args: argparse.Namespace) -> list[RoundResult]:
    jobs = job_set(args.seed)
    results: list[RoundResult] = []
    for _ in range(args.repeats):
        for switch in args.switch:
            with contextlib.ExitStack() as stack:
                doubles = [
                    stack.enter_context(
                        ThreadedDouble(models=MODELS, step_seconds=seconds, model_memory=1)
                    )
                    for seconds in STEP_SECONDS
                ]
                rounds = await Setup(doubles, switch, args.label).run(jobs, args.timeline)
                print(format_rounds(rounds), flush=True)
                results += rounds
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--switch", type=float, nargs="+", default=[2.0, 0.0])
    parser.add_argument("--seed", type=int, default=21, help="which 24 jobs")
    parser.add_argument("--label", default="this code", help="names the code in the report")
    parser.add_argument("--report", type=Path, help="append each round to this JSON-lines file")
    parser.add_argument("--summarise", type=Path, help="print the medians of a report and stop")
    parser.add_argument("--timeline", action="store_true", help="each round's prompts per server")
    args = parser.parse_args(argv)
    if args.summarise:
        rows = [json.loads(line) for line in args.summarise.read_text().splitlines() if line]
        print(
            summarise(
                [RoundResult(**{**row, "eta_errors": tuple(row["eta_errors"])}) for row in rows]
            )
        )
        return 0
    results = asyncio.run(run(args))
    if args.report:
        with args.report.open("a") as report:
            for result in results:
                report.write(json.dumps(asdict(result)) + "\n")
    print(summarise(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
