"""1,000 API jobs through two ``comfyui-pipe serve`` processes (one SQLite data directory)
over four ComfyUI doubles, under seeded faults (socket drops, ComfyUI restarts, 503s, a
slow /view; ComfyUI crashing mid-job, 503s on submit and /view) and one SIGKILL of a serve
process: lost, hung, duplicated, failures that are not a sentence and failures of a job
whose attempts had not run out must all be 0. The suite runs the same load at CI size
(tests/durability/test_faults_under_load.py).

    .venv/bin/python bench/durability_faults.py [--jobs 1000] [--users 20] [--seed 8]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx
from default_models import DEFAULT_MODELS
from durability.fault_load import FaultLoad, LoadPlan
from durability.hosts import Host, change_settings, sign_up
from openwebui.harness import ThreadedDouble


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=300.0)
    arguments = parser.parse_args()
    plan = LoadPlan(arguments.jobs, arguments.users, arguments.seed, deadline=arguments.deadline)
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="durability-bench-")))
        doubles = [
            stack.enter_context(ThreadedDouble(models=DEFAULT_MODELS, step_seconds=0.05))
            for _ in range(4)
        ]
        shared = {"WEBUI_SECRET_KEY": secrets.token_urlsafe(24)}
        hosts = [Host(name, doubles[0].url, root, shared) for name in ("a", "b")]
        for host in hosts:
            stack.callback(host.stop)
            host.start()
        with httpx.Client(base_url=hosts[0].url, timeout=30) as http:
            admin = sign_up(http)
            change_settings(
                http,
                admin,
                comfyui_url=",".join(double.url for double in doubles),
                jobs_per_user=2,
                job_timeout=60,
                lease_heartbeat=1,
                lease_expiry=3,
            )
        report = FaultLoad(hosts, doubles, admin, plan).run()
    print(report.summary())
    troubles = (report.lost, report.hung, report.duplicated, report.not_sentences)
    clean = not any(troubles) and not report.recoverable
    return 0 if clean and report.accepted == plan.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
