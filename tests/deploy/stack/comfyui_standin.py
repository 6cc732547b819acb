"""The ComfyUI stand-in's server: the project's ComfyUI double on 0.0.0.0:8188.

Like ComfyUI, it offers the model files found in its models folder (the volume
the model fetcher fills) and notices new ones without a restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from comfyui_double import ComfyDouble

MODELS_DIR = Path("/opt/comfyui/models")
PORT = 8188
STEP_SECONDS = 0.2
RESCAN_SECONDS = 1.0


class _ListenOnTheNetwork(web.TCPSite):
    """The double binds 127.0.0.1 on a free port; in a container it must serve the
    compose network on ComfyUI's port."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, **options: object) -> None:
        super().__init__(runner, "0.0.0.0", PORT, **options)


def installed_models(models_dir: Path) -> dict[str, list[str]]:
    return {
        folder.name: sorted(
            path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
        )
        for folder in models_dir.iterdir()
        if folder.is_dir()
    }


async def serve() -> None:
    web.TCPSite = _ListenOnTheNetwork
    async with ComfyDouble(step_seconds=STEP_SECONDS) as double:
        print(f"ComfyUI stand-in listening on :{PORT}", flush=True)
        while True:
            double.models = installed_models(MODELS_DIR)
            await asyncio.sleep(RESCAN_SECONDS)


if __name__ == "__main__":
    asyncio.run(serve())
