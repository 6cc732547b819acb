"""The API's router: every concern's routes under the one prefix."""

from fastapi import APIRouter

from . import (
    generations,
    image_engine,
    info,
    jobs,
    model_files,
    queue,
    servers,
    settings,
    workflow_admin,
    workflows,
)
from .common import PREFIX
from .openai import images

__all__ = ("PREFIX", "router")

router = APIRouter(prefix=PREFIX, tags=["comfyui"])
router.include_router(jobs.router)
router.include_router(workflow_admin.router)
router.include_router(workflows.router)
router.include_router(info.router)
router.include_router(settings.router)
router.include_router(servers.router)
router.include_router(queue.router)
router.include_router(model_files.router)
router.include_router(generations.router)
router.include_router(image_engine.router)
router.include_router(images.router)
