"""A user's generations: every output they made, newest first, page by page, with
filters; one in detail; its thumbnail; deleting one (from Open WebUI's files and from
its chat, which says so). Only the owner sees, or deletes, their own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import HTTPException, Query, Request, Response, status

from comfyui_pipe.openwebui.gallery.removal import remove_generation
from comfyui_pipe.openwebui.gallery.table import BadCursor, Filters, Output
from comfyui_pipe.openwebui.runtime import PluginRuntime
from comfyui_pipe.openwebui.store.files import file_content_url

from .common import PREFIX, Runtime, VerifiedUser, error_responses, sub_router
from .gallery_schemas import GenerationDetailOut, GenerationOut, GenerationsPage

router = sub_router()

THUMBNAIL_CACHE = "private, max-age=31536000, immutable"
"""A thumbnail never changes (a new output has a new id): the browser keeps it."""


@router.get(
    "/generations",
    response_model=GenerationsPage,
    summary="Your generations",
    description="Every output you made, newest first, a page at a time (`after`: the "
    "`next` of the page before). Filter by workflow, by kind, or by words of the prompt.",
    responses=error_responses(400, 422),
)
async def generations(
    user: VerifiedUser,
    runtime: Runtime,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 60,
    after: Annotated[str | None, Query(max_length=200, description="A page's `next`.")] = None,
    workflow: Annotated[str | None, Query(max_length=128)] = None,
    kind: Annotated[
        Literal["image", "animated", "video", "audio", "text"] | None,
        Query(description="animated includes GIFs."),
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="Words of the prompt.")] = None,
) -> GenerationsPage:
    filters = Filters(workflow=workflow, kind=kind, text=q.strip() if q else None)
    try:
        page = await runtime.gallery.page(user.id, limit + 1, after, filters)
    except BadCursor as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    shown = page[:limit]
    more = len(page) > limit
    return GenerationsPage(
        items=[generation_out(output) for output in shown],
        next=shown[-1].cursor if more else None,
    )


@router.get(
    "/generations/{file_id}",
    response_model=GenerationDetailOut,
    summary="One of your generations",
    description="The output with what made it (its job's parameters).",
    responses=error_responses(404, 422),
)
async def generation(file_id: str, user: VerifiedUser, runtime: Runtime) -> GenerationDetailOut:
    output = await _own(runtime, file_id, user.id)
    record = await runtime.jobs.get(output.job_id)
    params = dict(record.params) if record is not None else {}
    return GenerationDetailOut(**generation_out(output).model_dump(), params=params)


@router.get(
    "/generations/{file_id}/thumbnail",
    response_class=Response,
    summary="A generation's thumbnail",
    description="A small WebP made when the output was stored; browsers may keep it for a "
    "year (it never changes).",
    responses={
        200: {
            "content": {"image/webp": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The thumbnail.",
        },
        304: {"description": "The browser's copy is current."},
        **error_responses(404, 422),
    },
)
async def thumbnail(
    file_id: str, request: Request, user: VerifiedUser, runtime: Runtime
) -> Response:
    await _own(runtime, file_id, user.id)
    etag = f'"{file_id}"'
    headers = {"Cache-Control": THUMBNAIL_CACHE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    data = await runtime.gallery.thumbnail(file_id)
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This generation has no thumbnail.")
    return Response(content=data, media_type="image/webp", headers=headers)


@router.delete(
    "/generations/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one of your generations",
    description="The file leaves Open WebUI (your Files too) and the gallery; the chat it "
    "was made in says it was deleted.",
    responses=error_responses(404, 422),
)
async def delete_generation(file_id: str, user: VerifiedUser, runtime: Runtime) -> None:
    output = await _own(runtime, file_id, user.id)
    await remove_generation(runtime.host, runtime.gallery, output)


def generation_out(output: Output) -> GenerationOut:
    return GenerationOut(
        id=output.file_id,
        job_id=output.job_id,
        workflow=output.workflow_id,
        kind=output.kind,
        content_type=output.content_type,
        name=output.name,
        size=output.size,
        prompt=output.prompt,
        created_at=datetime.fromtimestamp(output.created_at, UTC),
        width=output.width,
        height=output.height,
        excerpt=output.excerpt,
        url=file_content_url(output.file_id),
        thumbnail_url=(
            f"{PREFIX}/generations/{output.file_id}/thumbnail" if output.has_thumbnail else None
        ),
        chat_id=output.chat_id,
        chat_url=f"/c/{output.chat_id}" if output.chat_id else None,
    )


async def _own(runtime: PluginRuntime, file_id: str, user_id: str) -> Output:
    """The user's own output; 404 for any other (ids cannot be probed)."""
    output = await runtime.gallery.get(file_id)
    if output is None or output.owner_id != user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no such generation of yours.")
    return output
