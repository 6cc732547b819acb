"""Everything about a request that can be checked without ComfyUI, checked in one go
before anything is stored, uploaded or queued."""

from __future__ import annotations

from comfyui_pipe.workflow import GenerationParams, Workflow

from .images import check_image
from .limits import Limits, build_params
from .request import GenerationRequest


def validated_params(
    workflow: Workflow, request: GenerationRequest, limits: Limits
) -> GenerationParams:
    """The request's parameters; raises ``RequestError`` & co. for its text, values or
    input images."""
    params = build_params(
        workflow,
        request.prompt,
        request.options,
        request.defaults,
        limits,
        [image.filename for image in request.images],
    )
    for image in request.images:
        check_image(image, limits)
    return params
