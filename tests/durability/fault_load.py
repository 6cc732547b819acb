"""Many API jobs through ``comfyui-pipe serve`` processes over several ComfyUI doubles
while faults are injected (seeded, bounded): socket drops, ComfyUI restarts, 5xx answers,
a slow ``/view``, one SIGKILL of a serve process, and — from a second seeded stream, so
that the first one's faults stay what they were — ComfyUI crashing mid-job (down for a
moment, then restarted without its queue) and 503s on ``POST /prompt`` and ``/view``.
Used by the suite (a CI-sized run) and by ``bench/durability_faults.py`` (1,000 jobs).

What counts: a job is **lost** when its 202 named a job that the database does not
hold; **hung** when its record has not ended by the deadline; **duplicated** when its
outputs are not exactly its own files (a file id shared with another job, or more
files in a user's Files than their completed jobs delivered); a failure is **not a
sentence** when its error is not one line starting with a capital and ending in a full
stop; a failure is **recoverable** unless it says the job's attempts ran out (every
fault injected here can be recovered from).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from openwebui.harness import ThreadedDouble

from .hosts import Host, add_user, file_count

JOB = {"workflow": "sd15_txt2img", "prompt": "a lighthouse", "steps": 4}
POLL = 0.25
"""Seconds between looks at the unfinished jobs (another process: nothing to await)."""


@dataclass(frozen=True)
class LoadPlan:
    jobs: int
    users: int
    seed: int = 8
    kill_at: float = 0.4
    """The fraction of the jobs accepted when one serve process is killed."""
    fault_every: float = 1.0
    """Mean seconds between two injected faults."""
    crash_every: float = 3.0
    """Mean seconds between two faults of the second stream (crashes mid-job, 503s on
    submit and on /view)."""
    deadline: float = 80.0
    """Seconds after the last job was accepted by which every job must have ended."""


@dataclass
class LoadReport:
    accepted: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: list[str] = field(default_factory=list)
    hung: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    not_sentences: list[str] = field(default_factory=list)
    recoverable: list[str] = field(default_factory=list)
    """Failures of jobs whose attempts had not run out."""
    errors: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"{self.accepted} jobs accepted in {self.seconds:.1f} s: {self.completed} completed, "
            f"{self.failed} failed, {self.cancelled} cancelled",
            f"lost {len(self.lost)}, hung {len(self.hung)}, duplicated {len(self.duplicated)}, "
            f"failures that are not a sentence {len(self.not_sentences)}, "
            f"failed for a fault it could recover from {len(self.recoverable)}",
            "faults: " + ", ".join(f"{name} ×{n}" for name, n in sorted(self.faults.items())),
        ]
        lines += [f"  {n} × {error}" for error, n in self.errors.most_common()]
        return "\n".join(lines)


def is_sentence(text: str | None) -> bool:
    return bool(text) and "\n" not in text and text[0].isupper() and text.endswith(".")


def attempts_ran_out(text: str | None) -> bool:
    """Whether a job's error says ComfyUI lost each of its attempts."""
    return bool(text) and "attempts; it was given up." in str(text)


class FaultLoad:
    """One run: ``FaultLoad(hosts, doubles, admin_headers, plan).run() -> LoadReport``.
    ``hosts[0]`` is the one killed; the others carry on."""

    def __init__(
        self,
        hosts: Sequence[Host],
        doubles: Sequence[ThreadedDouble],
        admin: dict[str, str],
        plan: LoadPlan,
    ) -> None:
        self.hosts = list(hosts)
        self.doubles = list(doubles)
        self.admin = admin
        self.plan = plan
        self.report = LoadReport()
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._accepted: list[str] = []
        self._alive = list(hosts)
        self._killed = threading.Event()
        self._done = threading.Event()

    def run(self) -> LoadReport:
        started = time.monotonic()
        users = self._users()
        per_user = [self.plan.jobs // len(users)] * len(users)
        per_user[0] += self.plan.jobs - sum(per_user)
        chaos = [
            threading.Thread(target=self._chaos, name="faults"),
            threading.Thread(target=self._crashes, name="crashes"),
        ]
        for thread in chaos:
            thread.start()
        try:
            seeds = [self._random.randrange(2**32) for _ in users]
            with ThreadPoolExecutor(len(users)) as pool:
                list(pool.map(self._submit, users, per_user, seeds))
        finally:
            self._done.set()
            for thread in chaos:
                thread.join()
            self._heal()
        self._wait_for_ends(users, time.monotonic() + self.plan.deadline)
        self._check(users)
        self.report.seconds = time.monotonic() - started
        return self.report

    # -- users -----------------------------------------------------------------------------

    def _users(self) -> list[dict[str, str]]:
        with httpx.Client(base_url=self.hosts[-1].url, timeout=30) as http:
            return [
                add_user(http, self.admin, f"Load {n}", f"load-{self.plan.seed}-{n}@example.com")
                for n in range(self.plan.users)
            ]

    def _submit(self, user: dict[str, str], jobs: int, seed: int) -> None:
        """Start ``jobs`` jobs as ``user`` on a random live host, retrying refusals."""
        chooser = random.Random(seed)
        sent = 0
        while sent < jobs:
            host = chooser.choice(self._alive)
            try:
                answer = httpx.post(
                    f"{host.url}/api/v1/comfyui/generate", headers=user, json=JOB, timeout=30
                )
            except httpx.TransportError:
                self._forget(host)
                continue
            if answer.status_code == 202:
                sent += 1
                self._accept(answer.json()["id"])
            elif answer.status_code in (429, 502, 503):
                time.sleep(chooser.uniform(0.1, 0.4))  # over the limit or no ComfyUI: later
            else:
                raise AssertionError(f"{answer.status_code}: {answer.text}")

    def _accept(self, job_id: str) -> None:
        with self._lock:
            self._accepted.append(job_id)
            self.report.accepted += 1
            kill = (
                not self._killed.is_set()
                and self.report.accepted >= self.plan.jobs * self.plan.kill_at
            )
            if kill:
                self._killed.set()
        if kill:
            self._forget(self.hosts[0])
            self.hosts[0].kill()
            self.report.faults["serve SIGKILL"] += 1

    def _forget(self, host: Host) -> None:
        with self._lock:
            if host in self._alive and len(self._alive) > 1:
                self._alive.remove(host)

    # -- faults ----------------------------------------------------------------------------

    def _chaos(self) -> None:
        chooser = random.Random(self.plan.seed + 1)
        while not self._done.wait(chooser.expovariate(1 / self.plan.fault_every)):
            double = chooser.choice(self.doubles)
            fault = chooser.choice(["socket drop", "restart", "5xx", "slow /view"])
            self.report.faults[fault] += 1
            if fault == "socket drop":
                double.run(_drop_sockets(double))
            elif fault == "restart":
                double.run(double.double.restart())
            elif fault == "5xx":
                route = chooser.choice(["/prompt", "/history", "/queue", "/view"])
                _for_a_while(double.double.faults.failing_routes, route, 503, 1.0)
            else:
                _for_a_while(double.double.faults.slow_routes, "/view", 2.0, 3.0)

    def _crashes(self) -> None:
        chooser = random.Random(self.plan.seed + 2)
        while not self._done.wait(chooser.expovariate(1 / self.plan.crash_every)):
            double = chooser.choice(self.doubles)
            fault = chooser.choice(["crash mid-job", "503 on /prompt", "503 on /view"])
            down_for = chooser.uniform(0.2, 1.5)
            if fault == "crash mid-job":
                ran = double.run(double.double.restart_mid_job(down_for=down_for), timeout=30)
                fault += "" if ran else " (idle)"
            else:
                route = fault.removeprefix("503 on ")
                _for_a_while(double.double.faults.failing_routes, route, 503, down_for)
            self.report.faults[fault] += 1

    def _heal(self) -> None:
        for double in self.doubles:
            double.reset_faults()

    # -- checks ----------------------------------------------------------------------------

    def _jobs(self, user: dict[str, str]) -> dict[str, dict[str, Any]]:
        """Every job of ``user``, as they list them."""
        found: dict[str, dict[str, Any]] = {}
        with httpx.Client(base_url=self._alive[-1].url, headers=user, timeout=30) as http:
            while True:
                page = http.get(
                    "/api/v1/comfyui/jobs", params={"limit": 100, "offset": len(found)}
                ).json()
                found.update((job["id"], job) for job in page["items"])
                if not page["items"] or len(found) >= page["total"]:
                    return found

    def _wait_for_ends(self, users: list[dict[str, str]], deadline: float) -> None:
        ended = ("completed", "failed", "cancelled")
        for user in users:
            while time.monotonic() < deadline:
                if all(job["state"] in ended for job in self._jobs(user).values()):
                    break
                time.sleep(POLL)

    def _check(self, users: list[dict[str, str]]) -> None:
        report = self.report
        listed: set[str] = set()
        outputs: Counter[str] = Counter()
        with httpx.Client(base_url=self._alive[-1].url, timeout=30) as http:
            for user in users:
                jobs = self._jobs(user)
                listed |= set(jobs)
                delivered = self._count(jobs.values(), outputs)
                files = file_count(http, user)
                if files != delivered:
                    report.duplicated.append(f"{files} files for {delivered} outputs")
        report.lost = [job_id for job_id in self._accepted if job_id not in listed]
        report.duplicated += [file_id for file_id, n in outputs.items() if n > 1]

    def _count(self, jobs: Iterable[dict[str, Any]], outputs: Counter[str]) -> int:
        """Count ``jobs`` into the report; the outputs they delivered."""
        report = self.report
        delivered = 0
        for job in jobs:
            state = job["state"]
            if state == "completed":
                report.completed += 1
                outputs.update(job["output_file_ids"])
                delivered += len(job["output_file_ids"])
                if len(job["output_file_ids"]) != 1:
                    report.duplicated.append(job["id"])
            elif state in ("failed", "cancelled"):
                setattr(report, state, getattr(report, state) + 1)
                report.errors[job["error"]] += 1
                if not is_sentence(job["error"]):
                    report.not_sentences.append(job["error"])
                if state == "failed" and not attempts_ran_out(job["error"]):
                    report.recoverable.append(job["id"])
            else:
                report.hung.append(job["id"])
        return delivered


async def _drop_sockets(double: ThreadedDouble) -> None:
    double.double.faults.drop_sockets()


def _for_a_while(table: dict[str, Any], route: str, value: Any, seconds: float) -> None:
    table[route] = value
    threading.Timer(seconds, table.pop, (route, None)).start()
