"""Letting a request in: everything checkable is checked before anything is stored.

A request is checked against its workflow and the admin's limits, the user's number
of unfinished jobs, and a ComfyUI server that has the workflow's nodes and models
(its input images are uploaded there); then its record is created, counted against
the user's limit across every process. A refused request raises and leaves no record.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, replace

from comfyui_pipe.comfy import ComfyServer, ComfyUnreachable, PromptRejected
from comfyui_pipe.workflow import GenerationParams, PreparedPrompt, Workflow

from .backends import BackendPool
from .errors import TooManyJobs, UnknownWorkflow
from .policy import Policy
from .prepare import apply, generation_metadata, prepare
from .records import JobRecord, JobState, JobStore
from .request import GenerationRequest
from .validation import validated_params


@dataclass(frozen=True)
class Admitted:
    record: JobRecord
    server: str
    """The server the prompt was checked against (and its input images uploaded to)."""


class Admission:
    def __init__(
        self,
        store: JobStore,
        pool: Callable[[], BackendPool],
        policy: Callable[[], Policy],
        workflows: Callable[[], Mapping[str, Workflow]],
        worker_id: str,
    ) -> None:
        self._store = store
        self._pool = pool
        self._policy = policy
        self._workflows = workflows
        self._worker_id = worker_id

    async def admit(self, request: GenerationRequest, unfinished_here: int) -> Admitted:
        """The new job's record; raises a ``PipeError`` (``RequestError`` & co.,
        ``PromptRejected``, ``ComfyUnreachable``, ``TooManyJobs`` counted over every
        process) and stores nothing when the request cannot be served.
        ``unfinished_here``: the owner's jobs this process follows."""
        workflows = self._workflows()
        workflow = workflows.get(request.workflow_id)
        if workflow is None:
            # which ones the owner may use instead is the host's to say
            raise UnknownWorkflow(request.workflow_id)
        policy = self._policy()
        if unfinished_here >= policy.jobs_per_user:
            raise TooManyJobs(unfinished_here, policy.jobs_per_user)
        params = validated_params(workflow, request, policy.limits)
        server, prepared = await self._prepare(workflow, request, params)
        url = server.client.base_url
        record = JobRecord(
            id=uuid.uuid4().hex,
            owner_id=request.owner_id,
            workflow_id=request.workflow_id,
            params=generation_metadata(workflow, prepared),
            state=JobState.QUEUED,
            created_at=time.time(),
            chat_id=request.chat_id,
            message_id=request.message_id,
            backend=url if request.images else None,
            worker_id=self._worker_id,
            prompt=dict(prepared.graph),
        )
        if not await self._store.create(record, policy.jobs_per_user):
            raise TooManyJobs(policy.jobs_per_user, policy.jobs_per_user)
        return Admitted(record, url)

    async def _prepare(
        self, workflow: Workflow, request: GenerationRequest, params: GenerationParams
    ) -> tuple[ComfyServer, PreparedPrompt]:
        """The prompt, applied and validated on the most preferred reachable server that
        has its nodes and models (and its input images uploaded there)."""
        pool = self._pool()
        rejected: PromptRejected | None = None
        async with aclosing(pool.reachable()) as servers:
            async for server in servers:
                try:
                    prepared = await prepare(pool, server, workflow, params)
                except PromptRejected as error:
                    rejected = rejected or error
                    continue
                if request.images:
                    names = [
                        (await server.client.upload_image(image.data, image.filename)).reference
                        for image in request.images
                    ]
                    seed = prepared.applied.get("seed")
                    uploaded = replace(params, images=tuple(names), seed=seed)
                    prepared = apply(workflow, uploaded, await pool.object_info(server))
                return server, prepared
        if rejected is not None:
            raise rejected
        raise ComfyUnreachable(", ".join(pool.urls), "none of the backends answered")
