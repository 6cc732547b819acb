"""``comfyui-pipe``: run Open WebUI with the ComfyUI plugin mounted.

``serve`` mirrors ``open-webui serve``: the same environment (``PORT``,
``HOST``, ``DATA_DIR``, ``UVICORN_WORKERS``, ``WEBUI_SECRET_KEY`` — generated
and kept in the data directory when absent, ``FORWARDED_ALLOW_IPS``), the
bundled frontend, and uvicorn, on our ASGI app instead of Open WebUI's.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from comfyui_pipe import __version__

APP = "comfyui_pipe.openwebui.app:app"
SECRET_KEY_FILE = ".webui_secret_key"
DEFAULT_SECRET_KEY_LENGTH = 24


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="comfyui-pipe", description="Open WebUI with ComfyUI image and video generation."
    )
    parser.add_argument("--version", action="version", version=f"comfyui-pipe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="Run Open WebUI with the plugin.")
    serve_parser.add_argument("--host", default=os.getenv("HOST", "0.0.0.0"))
    serve_parser.add_argument("--port", type=int, default=int(os.getenv("PORT", "8080")))
    arguments = parser.parse_args(argv)
    serve(arguments.host, arguments.port)


def serve(host: str, port: int) -> None:
    # Open WebUI reads all of this when first imported, so it must be set before.
    os.environ["FROM_INIT_PY"] = "true"
    if not os.getenv("WEBUI_SECRET_KEY"):
        os.environ["WEBUI_SECRET_KEY"] = load_or_create_secret_key(data_dir())

    import uvicorn
    from open_webui.env import UVICORN_WORKERS, UVICORN_WS_PER_MESSAGE_DEFLATE

    uvicorn.run(
        APP,
        host=host,
        port=port,
        forwarded_allow_ips=os.getenv("FORWARDED_ALLOW_IPS", "*"),
        workers=UVICORN_WORKERS,
        ws_per_message_deflate=UVICORN_WS_PER_MESSAGE_DEFLATE,
    )


def data_dir() -> Path:
    """Where Open WebUI keeps its data when started like ``open-webui serve``."""
    configured = os.getenv("DATA_DIR")
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("open_webui")
    if spec is None or spec.origin is None:
        raise RuntimeError("Open WebUI is not installed.")
    return Path(spec.origin).parent / "data"


def load_or_create_secret_key(directory: Path) -> str:
    """The key in ``directory/.webui_secret_key``, generated there on first use."""
    key_file = directory / SECRET_KEY_FILE
    if not key_file.exists():
        length = int(os.getenv("WEBUI_SECRET_KEY_LENGTH", DEFAULT_SECRET_KEY_LENGTH))
        if length < 1:
            raise ValueError("WEBUI_SECRET_KEY_LENGTH must be a positive integer")
        directory.mkdir(parents=True, exist_ok=True)
        key_file.write_bytes(base64.b64encode(secrets.token_bytes(length)))
        key_file.chmod(0o600)
    return key_file.read_text()
