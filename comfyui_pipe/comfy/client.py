"""HTTP client for one ComfyUI server.

Every request goes to the ``/api`` routes (present since ComfyUI v0.3) and carries
the caller's extra headers and optional ``?token=`` (ComfyUI-Login style); the
same credentials are exposed for the WebSocket through ``ws_url`` and
``headers``. Transport failures become :class:`ComfyUnreachable`, unexpected
answers :class:`ComfyHTTPError`, rejected workflows :class:`PromptRejected`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self
from urllib.parse import quote, urlencode

import httpx

from .errors import (
    ComfyHTTPError,
    ComfyProtocolError,
    ComfyUnreachable,
    OutputUnavailable,
    PromptRejected,
    UploadTooLarge,
)
from .model_lists import LOADER_INPUTS, models_from_object_info
from .outputs import OutputRef, content_type_for
from .problems import Problem, ProblemKind, problems_in_node_errors
from .queue import QueueSnapshot

CHUNK_SIZE = 64 * 1024
_WS_SCHEMES = {"http": "ws", "https": "wss"}


@dataclass(frozen=True)
class Submitted:
    prompt_id: str
    number: int
    # What made ComfyUI drop some outputs while queueing the rest (200 with node_errors).
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class UploadedImage:
    name: str
    subfolder: str
    type: str

    @property
    def reference(self) -> str:
        """The value a ``LoadImage.image`` input takes."""
        return f"{self.subfolder}/{self.name}" if self.subfolder else self.name


class ComfyClient:
    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        client_id: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id or str(uuid.uuid4())
        self._headers = dict(headers or {})
        self._token = token
        self._timeout = timeout
        # None until the server has shown whether POST /api/jobs/{id}/cancel exists.
        self._has_jobs_cancel: bool | None = None
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers=self._headers,
            params={"token": token} if token else None,
            timeout=timeout,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def headers(self) -> dict[str, str]:
        """The extra headers, to send on the WebSocket handshake too."""
        return dict(self._headers)

    @property
    def ws_url(self) -> str:
        base = httpx.URL(self.base_url + "/")
        query = {"clientId": self.client_id}
        if self._token:
            query["token"] = self._token
        return str(
            base.copy_with(
                scheme=_WS_SCHEMES.get(base.scheme, base.scheme),
                path=base.path + "ws",
                query=urlencode(query).encode(),
            )
        )

    # -- jobs -------------------------------------------------------------

    async def submit(
        self,
        prompt: Mapping[str, Any],
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        front: bool = False,
    ) -> Submitted:
        prompt_id = str(uuid.UUID(prompt_id)) if prompt_id else str(uuid.uuid4())
        body: dict[str, Any] = {
            "prompt": prompt,
            "client_id": self.client_id,
            "prompt_id": prompt_id,
        }
        if extra_data:
            body["extra_data"] = dict(extra_data)
        if front:
            body["front"] = True
        content = json.dumps(body).encode()
        response = await self._send(
            "POST", "/prompt", content=content, headers={"Content-Type": "application/json"}
        )
        if response.status_code == 400:
            raise PromptRejected.from_response(_error_body(response), prompt)
        if response.status_code == 413:
            raise PromptRejected([Problem(ProblemKind.TOO_LARGE, value=len(content))])
        answer = _expect_json(response, "POST", "/prompt")
        node_errors = answer.get("node_errors") or {}
        return Submitted(
            # Servers older than v0.25 ignore our prompt_id and pick their own.
            prompt_id=str(answer.get("prompt_id") or prompt_id),
            number=int(answer.get("number", 0)),
            warnings=tuple(problems_in_node_errors(node_errors, prompt)),
        )

    async def queue(self) -> QueueSnapshot:
        return QueueSnapshot.from_response(await self._get_json("/queue"))

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry, or None while unknown or not finished (ComfyUI answers {})."""
        body = await self._get_json(f"/history/{_segment(prompt_id)}")
        entry = body.get(prompt_id) if isinstance(body, dict) else None
        return entry or None

    async def job(self, prompt_id: str) -> dict[str, Any] | None:
        """The jobs-API record, or None when the job is unknown or the server has no jobs API."""
        path = f"/jobs/{_segment(prompt_id)}"
        response = await self._send("GET", path)
        if response.status_code in (404, 405):
            return None
        return _as_object(_expect_json(response, "GET", path), "GET", path)

    async def cancel(self, prompt_id: str) -> None:
        """Cancel exactly this job, pending or running; other users' jobs stay untouched."""
        if self._has_jobs_cancel is not False:
            path = f"/jobs/{_segment(prompt_id)}/cancel"
            response = await self._send("POST", path)
            if _is_route_missing(response):
                self._has_jobs_cancel = False
            elif response.status_code in (200, 404):  # 404 here is JSON "Job not found"
                self._has_jobs_cancel = True
                return
            else:
                raise _unexpected(response, "POST", path)
        await self._cancel_without_jobs_api(prompt_id)

    async def _cancel_without_jobs_api(self, prompt_id: str) -> None:
        await self._post_ok("/queue", {"delete": [prompt_id]})
        # Interrupt only when it is ours that runs: servers that predate the
        # prompt_id filter on /interrupt would stop whatever is running.
        if (await self.queue()).position(prompt_id) == 0:
            await self._post_ok("/interrupt", {"prompt_id": prompt_id})

    # -- files ------------------------------------------------------------

    async def upload_image(
        self, data: bytes, filename: str, subfolder: str = "", overwrite: bool = False
    ) -> UploadedImage:
        """Store an input image; use the returned name, the server may rename it."""
        path = "/upload/image"
        response = await self._send(
            "POST",
            path,
            files={"image": (filename, data, content_type_for(filename))},
            data={"type": "input", "subfolder": subfolder, "overwrite": str(overwrite).lower()},
        )
        if response.status_code == 413:
            raise UploadTooLarge(filename, len(data))
        answer = _expect_json(response, "POST", path)
        if not answer.get("name"):
            raise ComfyProtocolError("POST", path, "no name for the uploaded image")
        return UploadedImage(
            name=str(answer["name"]),
            subfolder=str(answer.get("subfolder") or ""),
            type=str(answer.get("type") or "input"),
        )

    @asynccontextmanager
    async def stream_output(
        self, ref: OutputRef, chunk_size: int = CHUNK_SIZE
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open one output file; yields an iterator over its chunks. A text output
        (``ref.text``) is not on the server: its chunks are its UTF-8 bytes."""
        if ref.text is not None:
            yield _text_chunks(ref.text, chunk_size)
            return
        reason = ref.unsafe_reason
        if reason:
            raise OutputUnavailable(ref.filename, reason)
        params = {"filename": ref.filename, "subfolder": ref.subfolder, "type": ref.type}
        async with AsyncExitStack() as stack:
            with self._transport_errors("GET", "/view"):
                response = await stack.enter_async_context(
                    self._http.stream("GET", "/api/view", params=params)
                )
                if response.status_code != 200:
                    await response.aread()
            if response.status_code == 404:
                raise OutputUnavailable(ref.filename, "it is no longer on the server")
            if response.status_code != 200:
                raise _unexpected(response, "GET", "/view")
            yield self._chunks(response, chunk_size)

    async def download(self, ref: OutputRef, dest: Path | BinaryIO) -> int:
        """Stream one output file into ``dest``; returns the number of bytes written.

        A file path is removed again when the download fails halfway.
        """
        if not isinstance(dest, Path):
            return await self._copy_output(ref, dest)
        try:
            with dest.open("wb") as file:
                return await self._copy_output(ref, file)
        except BaseException:
            await asyncio.to_thread(dest.unlink, missing_ok=True)
            raise

    async def _copy_output(self, ref: OutputRef, file: BinaryIO) -> int:
        written = 0
        async with self.stream_output(ref) as chunks:
            async for chunk in chunks:
                file.write(chunk)
                written += len(chunk)
        return written

    async def _chunks(self, response: httpx.Response, chunk_size: int) -> AsyncIterator[bytes]:
        with self._transport_errors("GET", "/view"):
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk

    # -- server information ------------------------------------------------

    async def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        """Node schemas keyed by class; for one class, {} when it is not installed."""
        path = "/object_info" + (f"/{_segment(node_class)}" if node_class else "")
        return _as_object(await self._get_json(path), "GET", path)

    async def models(self, folder: str | None = None) -> list[str]:
        """Model folder names, or the files in one folder (e.g. ``checkpoints``)."""
        path = "/models" + (f"/{_segment(folder)}" if folder else "")
        response = await self._send("GET", path)
        if response.status_code == 200:
            return [str(name) for name in _expect_json(response, "GET", path)]
        if not _is_route_missing(response):
            raise _unexpected(response, "GET", path)
        # Servers without /models (or a folder unknown to them): ask the loader node.
        if folder is None:
            return list(LOADER_INPUTS)
        if folder not in LOADER_INPUTS:
            return []
        node_class = LOADER_INPUTS[folder][0]
        return models_from_object_info(await self.object_info(node_class), folder)

    async def system_stats(self) -> dict[str, Any]:
        return _as_object(await self._get_json("/system_stats"), "GET", "/system_stats")

    async def features(self) -> dict[str, Any]:
        """The server's feature flags; {} on servers that predate ``/features``."""
        response = await self._send("GET", "/features")
        if _is_route_missing(response):
            return {}
        return _as_object(_expect_json(response, "GET", "/features"), "GET", "/features")

    # -- plumbing ------------------------------------------------------------

    @contextmanager
    def _transport_errors(self, method: str, path: str) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            reason = f"no answer to {method} {path} within {self._timeout:g} s"
            raise ComfyUnreachable(self.base_url, reason) from exc
        except httpx.TransportError as exc:
            raise ComfyUnreachable(self.base_url, str(exc) or type(exc).__name__) from exc

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to ``/api{path}``; only transport failures raise."""
        with self._transport_errors(method, path):
            return await self._http.request(method, "/api" + path, **kwargs)

    async def _get_json(self, path: str) -> Any:
        return _expect_json(await self._send("GET", path), "GET", path)

    async def _post_ok(self, path: str, body: Mapping[str, Any]) -> None:
        response = await self._send("POST", path, json=body)
        if response.status_code != 200:
            raise _unexpected(response, "POST", path)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _unexpected(response: httpx.Response, method: str, path: str) -> ComfyHTTPError:
    return ComfyHTTPError(method, path, response.status_code, response.text[:500])


def _as_object(body: Any, method: str, path: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ComfyProtocolError(method, path, "something other than an object")
    return body


def _expect_json(response: httpx.Response, method: str, path: str) -> Any:
    if response.status_code != 200:
        raise _unexpected(response, method, path)
    try:
        return response.json()
    except ValueError as exc:
        raise ComfyProtocolError(method, path, "something other than JSON") from exc


def _error_body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    return (
        body
        if isinstance(body, dict)
        else {"error": response.text or "ComfyUI rejected the workflow"}
    )


def _is_route_missing(response: httpx.Response) -> bool:
    """405, or a 404 that is not a route's own JSON ``{"error": ...}`` answer."""
    if response.status_code == 405:
        return True
    if response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return True
    return not (isinstance(body, dict) and "error" in body)


async def _text_chunks(text: str, chunk_size: int) -> AsyncIterator[bytes]:
    data = text.encode("utf-8")
    for start in range(0, len(data), chunk_size):
        yield data[start : start + chunk_size]
