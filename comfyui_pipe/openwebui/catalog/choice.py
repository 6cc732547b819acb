"""Which workflows a user may use here, and which one does a job: one rule for the chat,
the Tool, the Actions and the API.

A workflow is usable by a user when it is offered (enabled by the admin) and the user
may use its chat model (see ``access``). A workflow named by the caller (a chat model,
the Tool's argument, a result's own workflow, the API's field) is used as named once
it is usable and some server can run it; one that is not offered is refused with the
workflows that are usable, never others. For a purpose ("an image", "a video from an
image"), the admin's default workflow comes first when it fits the purpose, then the
others of a fitting kind (its metadata's ``kind``; for videos also whether it takes a
start image), the kinds in the order listed and each kind in the order offered; the
first that the user may use and that is not known to miss anything on every server
does the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from comfyui_pipe.generation.backends import BackendPool
from comfyui_pipe.generation.errors import RequestError, UnknownWorkflow
from comfyui_pipe.openwebui.catalog.access import WorkflowNotAllowed, may_use_workflow
from comfyui_pipe.openwebui.catalog.availability import Availability
from comfyui_pipe.openwebui.host import OpenWebUIHost, User
from comfyui_pipe.workflow import Workflow


class Purpose(StrEnum):
    IMAGE = "image"
    EDIT = "edit"
    VIDEO = "video"
    VIDEO_FROM_IMAGE = "video from an image"
    UPSCALE = "upscale"


KINDS: Mapping[Purpose, tuple[str, ...]] = {
    Purpose.IMAGE: ("txt2img",),
    Purpose.EDIT: ("edit", "img2img"),
    Purpose.VIDEO: ("video", "txt2vid"),
    Purpose.VIDEO_FROM_IMAGE: ("video", "img2vid"),
    Purpose.UPSCALE: ("upscale",),
}
_TAKES_IMAGE: Mapping[Purpose, bool] = {Purpose.VIDEO: False, Purpose.VIDEO_FROM_IMAGE: True}
_NOUNS: Mapping[Purpose, str] = {
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


class WorkflowChoice:
    """The rule over the workflows offered now (``workflows``, in their order), the
    servers that run them (``pool``, as ``availability`` knows them) and the admin's
    ``default_id``."""

    def __init__(
        self,
        host: OpenWebUIHost,
        availability: Availability,
        workflows: Mapping[str, Workflow],
        pool: BackendPool,
        default_id: str,
    ) -> None:
        self._host = host
        self._availability = availability
        self._workflows = workflows
        self._pool = pool
        self._default_id = default_id

    async def usable(self, user: User) -> list[Workflow]:
        """The offered workflows ``user`` may use, in the order offered."""
        return [w for w in self._workflows.values() if await self._may_use(user, w)]

    async def choose(self, user: User, purpose: Purpose, named: str | None = None) -> Workflow:
        """The workflow ``named`` if any (see :meth:`named`), else one for ``purpose``."""
        if named:
            return await self.named(user, named)
        return await self.for_purpose(user, purpose)

    async def named(self, user: User, workflow_id: str) -> Workflow:
        """``workflow_id``, checked: :class:`UnknownWorkflow` (naming the usable ones) when
        it is not offered, ``WorkflowNotAllowed``, ``WorkflowUnavailable``."""
        workflow = self._workflows.get(workflow_id)
        if workflow is None:
            raise UnknownWorkflow(workflow_id, [w.id for w in await self.usable(user)])
        if not await self._may_use(user, workflow):
            raise WorkflowNotAllowed(workflow_id)
        await self._availability.check_available(workflow, self._pool)
        return workflow

    async def for_purpose(self, user: User, purpose: Purpose) -> Workflow:
        """The first of :meth:`candidates` that ``user`` may use and that is not known to
        miss anything on every server."""
        candidates = self.candidates(purpose)
        missing = self._availability.known_missing(candidates, self._pool)
        for workflow in candidates:
            if workflow.id not in missing and await self._may_use(user, workflow):
                return workflow
        raise NoWorkflowFor(purpose)

    def candidates(self, purpose: Purpose) -> list[Workflow]:
        """The offered workflows that fit ``purpose``: the admin's default first, then
        by kind (in the order ``KINDS`` lists them), each kind in the order offered."""
        kinds = KINDS[purpose]
        fitting = [w for w in self._workflows.values() if _fits(w, purpose)]
        by_kind = sorted(fitting, key=lambda workflow: kinds.index(workflow.meta.kind))
        default = [w for w in by_kind if w.id == self._default_id]
        return default + [w for w in by_kind if w.id != self._default_id]

    async def _may_use(self, user: User, workflow: Workflow) -> bool:
        return await may_use_workflow(self._host, user, workflow.id)


def _fits(workflow: Workflow, purpose: Purpose) -> bool:
    takes_image = _TAKES_IMAGE.get(purpose)
    if workflow.meta.kind not in KINDS[purpose]:
        return False
    return takes_image is None or (workflow.image_inputs > 0) == takes_image
