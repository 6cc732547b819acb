"""``python -m comfyui_pipe.fetch_models``: fetch the models a workflow needs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from comfyui_pipe.config import from_environment
from comfyui_pipe.fetch_models.download import DEFAULT_TIMEOUT, FetchError, fetch_model
from comfyui_pipe.fetch_models.manifest import models_for_workflow
from comfyui_pipe.settings import VARIABLE_OF_SETTING

SWITCH_ENV = "COMFYUI_FETCH_MODELS"
WORKFLOW_ENV = VARIABLE_OF_SETTING["default_workflow"]
ENV_NAMES = (SWITCH_ENV, WORKFLOW_ENV)
"""Every environment variable the fetcher reads."""

_OFF = {"0", "false", "no", "off"}


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    retry_delay: float = 3.0,
) -> int:
    environ = os.environ if environ is None else environ
    args = _parser().parse_args(argv)
    if environ.get(SWITCH_ENV, "").strip().lower() in _OFF:
        _say(f"Model download is off ({SWITCH_ENV}={environ[SWITCH_ENV]}).")
        return 0
    workflow_ids = args.workflow or [from_environment(environ).config.default_workflow]
    try:
        with httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=True) as client:
            for workflow_id in workflow_ids:
                for model in models_for_workflow(args.workflows, workflow_id):
                    result = fetch_model(
                        client, model, args.models_dir, retry_delay=retry_delay, report=_say
                    )
                    if result.status == "present":
                        _say(f"Already present: {model.folder}/{model.filename}")
    except FetchError as error:
        print(f"fetch_models: error: {error}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m comfyui_pipe.fetch_models",
        description="Download the model files listed in a workflow's metadata when missing. "
        f"Set {SWITCH_ENV}=false to skip.",
    )
    parser.add_argument(
        "--workflows", type=Path, required=True, help="folder of <id>.json + <id>.meta.json"
    )
    parser.add_argument("--models-dir", type=Path, required=True, help="ComfyUI's models folder")
    parser.add_argument(
        "--workflow",
        action="append",
        help=f"workflow id (repeatable); default: ${WORKFLOW_ENV} or the plugin's default",
    )
    return parser


def _say(line: str) -> None:
    print(line, flush=True)
