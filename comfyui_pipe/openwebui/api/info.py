"""What is installed on ComfyUI and how its backends are doing."""

from __future__ import annotations

from comfyui_pipe.comfy.model_lists import LOADER_INPUTS
from comfyui_pipe.errors import PipeError
from comfyui_pipe.generation.backends import BackendHealth
from comfyui_pipe.openwebui.api.schemas import BackendHealthOut, HealthOut, ModelsOut
from comfyui_pipe.openwebui.presenter import describe

from .common import Runtime, VerifiedUser, error_responses, http_error, sub_router

router = sub_router()


@router.get(
    "/models",
    response_model=ModelsOut,
    summary="List models",
    description="Checkpoints, LoRAs, diffusion models, VAEs, text encoders, upscale "
    "models, … installed on ComfyUI (the least busy reachable backend).",
    responses=error_responses(502, 503),
)
async def list_models(
    _user: VerifiedUser,
    runtime: Runtime,
) -> ModelsOut:
    try:
        return ModelsOut(models=await runtime.service.models(list(LOADER_INPUTS)))
    except PipeError as error:
        raise http_error(error) from None


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Backend health",
    description="Per ComfyUI backend: reachable, version, queue and devices. URLs are shown "
    "to admins only.",
    responses=error_responses(),
)
async def health(
    user: VerifiedUser,
    runtime: Runtime,
) -> HealthOut:
    backends = [
        BackendHealthOut(
            name=f"backend {number}",
            url=backend.url if user.role == "admin" else None,
            reachable=backend.reachable,
            version=backend.version,
            queue_running=backend.queue_running,
            queue_pending=backend.queue_pending,
            devices=backend.devices,
            error=_error_of(backend, admin=user.role == "admin"),
        )
        for number, backend in enumerate(await runtime.service.health(), start=1)
    ]
    return HealthOut(ok=any(b.reachable for b in backends), backends=backends)


def _error_of(backend: BackendHealth, *, admin: bool) -> str | None:
    """What went wrong, for admins in detail (with the server's address)."""
    if backend.error is None:
        return None
    return str(backend.error) if admin else describe(backend.error)
