"""The API's router: every concern's routes under the one prefix."""

from fastapi import APIRouter

from . import info, jobs, settings, workflows
from .common import PREFIX

__all__ = ("PREFIX", "router")

router = APIRouter(prefix=PREFIX, tags=["comfyui"])
router.include_router(jobs.router)
router.include_router(workflows.router)
router.include_router(info.router)
router.include_router(settings.router)
