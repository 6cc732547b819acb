"""Which workflow does a job when the caller names a purpose, not a workflow.

The Tool ("make a video") and the Actions ("Upscale") pick the first offered
workflow of a fitting kind (its metadata's ``kind``; for videos also whether it
takes a start image) that the user may run and some server can run, the kinds in
the order listed; a workflow the caller names is used as named, after the same
access and availability checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from comfyui_pipe.generation.backends import BackendPool
from comfyui_pipe.generation.errors import RequestError, UnknownWorkflow
from comfyui_pipe.openwebui.catalog.access import check_workflow_access, may_use_workflow
from comfyui_pipe.openwebui.catalog.availability import check_available, known_missing
from comfyui_pipe.openwebui.host import OpenWebUIHost, User
from comfyui_pipe.workflow import Workflow


class Purpose(StrEnum):
    IMAGE = "image"
    EDIT = "edit"
    VIDEO = "video"
    VIDEO_FROM_IMAGE = "video from an image"
    UPSCALE = "upscale"


KINDS: dict[Purpose, tuple[str, ...]] = {
    Purpose.IMAGE: ("txt2img",),
    Purpose.EDIT: ("edit", "img2img"),
    Purpose.VIDEO: ("video", "txt2vid"),
    Purpose.VIDEO_FROM_IMAGE: ("video", "img2vid"),
    Purpose.UPSCALE: ("upscale",),
}
_TAKES_IMAGE = {Purpose.VIDEO: False, Purpose.VIDEO_FROM_IMAGE: True}
_NOUNS = {
    Purpose.IMAGE: "makes images from text",
    Purpose.EDIT: "edits images",
    Purpose.VIDEO: "makes videos from text",
    Purpose.VIDEO_FROM_IMAGE: "makes videos from an image",
    Purpose.UPSCALE: "upscales images",
}


class NoWorkflowFor(RequestError):
    def __init__(self, purpose: Purpose) -> None:
        self.purpose = purpose
        super().__init__(
            f"No workflow you may use here {_NOUNS[purpose]}; ask an admin to offer one."
        )


async def choose_workflow(
    host: OpenWebUIHost,
    workflows: Mapping[str, Workflow],
    pool: BackendPool,
    purpose: Purpose,
    user: User,
    named: str | None = None,
) -> Workflow:
    """The workflow ``named`` (checked), else the first one for ``purpose`` that ``user``
    may run and that is not known to miss anything on every server of ``pool``."""
    if named:
        workflow = workflows.get(named)
        if workflow is None:
            raise UnknownWorkflow(named, workflows)
        await check_workflow_access(host, user, workflow.id)
        await check_available(workflow, pool)
        return workflow
    missing = known_missing(workflows.values(), pool)
    for kind in KINDS[purpose]:
        for workflow in workflows.values():
            if (
                workflow.meta.kind == kind
                and _fits(workflow, purpose)
                and workflow.id not in missing
            ):
                if await may_use_workflow(host, user, workflow.id):
                    return workflow
    raise NoWorkflowFor(purpose)


def _fits(workflow: Workflow, purpose: Purpose) -> bool:
    takes_image = _TAKES_IMAGE.get(purpose)
    return takes_image is None or (workflow.image_inputs > 0) == takes_image
