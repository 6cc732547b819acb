"""HTTP client for one Comfy API v2 server (Comfy Cloud, ``comfy-api-proxy``).

Every request goes to ``/api/v2`` with the API key (``Authorization: Bearer`` as the v2
contract says, and ``X-API-Key`` as Comfy Cloud's older routes do). A submit carries an
``Idempotency-Key`` (ours: the prompt id recorded before submitting) and the same key as
the job's ``metadata``; a submit whose answer was lost is sent again with that key, and
a server that says the key was used already (keys are single-use) has the job: it is
found by its metadata, never run twice. An output is fetched from its asset's URL; the
key goes only to the server itself, never to another host a URL or a redirect names.
Transport failures become ``ComfyUnreachable``, refusals of a workflow
``PromptRejected``, other answers ``ComfyHTTPError``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Self
from urllib.parse import quote

import httpx

from ..errors import (
    ComfyHTTPError,
    ComfyProtocolError,
    ComfyUnreachable,
    OutputUnavailable,
    PromptRejected,
    UploadTooLarge,
)
from ..job import JobTimeouts
from ..outputs import OutputRef
from .sse import ServerEvent, server_events

logger = logging.getLogger(__name__)

API = "/api/v2"
SUBMIT_PAUSES = (0.2, 1.0, 3.0)
"""Seconds before each new try of a submit whose answer did not come."""
LIST_LIMIT = 100
"""Jobs looked through for one whose answer was lost (the newest first)."""
EVENTS_SILENCE = 60.0
"""Seconds without a byte (the server sends a comment every 15 s) before an event
stream is given up and the job is looked at again."""
REFUSALS = ("invalid_workflow", "workflow_format_ui", "missing_asset", "invalid_request")
_KEY_USED = "idempotency_key_reuse"
_REDIRECTS = (301, 302, 303, 307, 308)
CHUNK_SIZE = 64 * 1024


class V2Client:
    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        api_key: str | None,
        timeouts: JobTimeouts,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        self.answered = False
        """Whether the last request got an answer (the server's live state, for the pool)."""
        keys = {"Authorization": f"Bearer {api_key}", "X-API-Key": api_key} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url + API + "/",
            headers={**headers, **keys},
            timeout=timeouts.connect,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- jobs -------------------------------------------------------------------------------

    async def submit(self, workflow: Mapping[str, Any], key: str) -> dict[str, Any]:
        """The job the server made of ``workflow``, exactly one however often the submit
        is sent."""
        body = {"workflow": workflow, "metadata": key}
        pauses = iter(SUBMIT_PAUSES)
        while True:
            try:
                response = await self._send(
                    "POST", "jobs", json=body, headers={"Idempotency-Key": key}
                )
                break
            except ComfyUnreachable as error:
                pause = next(pauses, None)
                if pause is None:
                    raise
                logger.info("submitting %s again in %g s: %s", key, pause, error)
                await asyncio.sleep(pause)
        if response.status_code in (200, 201):
            return _object(response, "POST", "/jobs")
        code, message, details = _error(response)
        if code == _KEY_USED:
            return await self._sent_before(key)
        if code in REFUSALS or response.status_code == 400:
            rejection = {"node_errors": details.get("node_errors") or {}, "error": message}
            raise PromptRejected.from_response(rejection, workflow)
        raise _unexpected(response, "POST", "/jobs")

    async def _sent_before(self, key: str) -> dict[str, Any]:
        """The job an earlier try of this submit made (its answer was lost)."""
        found = await self.find(key)
        if found is None:
            raise ComfyUnreachable(self.base_url, "it took the submit but lists no job for it")
        logger.info("the submit of %s had reached the server: job %s", key, found.get("id"))
        return found

    async def job(self, job_id: str) -> dict[str, Any] | None:
        """The job, or None when the server does not know it."""
        path = f"jobs/{_segment(job_id)}"
        response = await self._send("GET", path)
        if response.status_code == 404:
            return None
        return _object(response, "GET", path)

    async def find(self, key: str) -> dict[str, Any] | None:
        """The newest job submitted with ``key`` as its metadata, if the server lists it."""
        response = await self._send("GET", "jobs", params={"limit": LIST_LIMIT})
        jobs = _object(response, "GET", "/jobs").get("jobs") or []
        return next(
            (job for job in jobs if isinstance(job, dict) and job.get("metadata") == key), None
        )

    async def resolve(self, prompt_id: str) -> dict[str, Any] | None:
        """The job named by its id, or by our key when its id was never learnt."""
        return await self.job(prompt_id) or await self.find(prompt_id)

    async def cancel(self, prompt_id: str) -> dict[str, Any] | None:
        """Cancel exactly that job (its state after), queued or running; None when the
        server does not know it."""
        job = await self.resolve(prompt_id)
        if job is None:
            return None
        path = f"jobs/{_segment(str(job['id']))}/cancel"
        response = await self._send("POST", path)
        if response.status_code == 404:
            return None
        return _object(response, "POST", path)

    @asynccontextmanager
    async def events(self, job_id: str) -> AsyncIterator[AsyncIterator[ServerEvent]]:
        """The job's live events (server-sent; they are not replayed on a reconnect)."""
        path = f"jobs/{_segment(job_id)}/events"
        timeout = httpx.Timeout(self.timeouts.connect, read=EVENTS_SILENCE)
        with self._transport_errors("GET", path):
            async with self._http.stream("GET", path, timeout=timeout) as response:
                self.answered = True
                if response.status_code != 200:
                    await response.aread()
                    raise _unexpected(response, "GET", path)
                yield self._events(response, path)

    async def _events(self, response: httpx.Response, path: str) -> AsyncIterator[ServerEvent]:
        with self._transport_errors("GET", path):
            async for event in server_events(response.aiter_lines()):
                yield event

    # -- files ------------------------------------------------------------------------------

    async def upload(self, data: bytes, filename: str, content_type: str = "") -> str:
        """Store an input image as an asset; its id. Named by its bytes, so the same image
        sent twice is one asset."""
        suffix = mimetypes.guess_extension(content_type) or _suffix(filename)
        name = hashlib.sha256(data).hexdigest()[:32] + suffix
        files = {"file": (name, data, content_type or "application/octet-stream")}
        response = await self._send(
            "POST", "assets", files=files, data={"file_path": f"input/{name}"}
        )
        if response.status_code == 413:
            raise UploadTooLarge(filename, len(data))
        asset = _object(response, "POST", "/assets")
        if not asset.get("id"):
            raise ComfyProtocolError("POST", "/assets", "an asset without an id")
        return str(asset["id"])

    @asynccontextmanager
    async def content(self, ref: OutputRef) -> AsyncIterator[AsyncIterator[bytes]]:
        """One output's bytes, in chunks, from its asset's URL."""
        if not ref.location:
            raise OutputUnavailable(ref.filename, "the server gave no address for it")
        own = httpx.URL(ref.location).host == httpx.URL(self.base_url).host
        async with _stream(self._http if own else None, ref.location) as response:
            self.answered = True
            if response.status_code in _REDIRECTS and "location" in response.headers:
                target = str(response.url.join(response.headers["location"]))
                async with _stream(None, target) as moved:
                    yield _checked_chunks(moved, ref)
                return
            yield _checked_chunks(response, ref)

    async def health(self) -> dict[str, Any]:
        return _object(await self._send("GET", "health"), "GET", "/health")

    # -- plumbing ---------------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._transport_errors(method, path):
            response = await self._http.request(method, path, **kwargs)
        self.answered = True
        return response

    @contextmanager
    def _transport_errors(self, method: str, path: str) -> Iterator[None]:
        try:
            yield
        except httpx.TransportError as error:
            self.answered = False
            reason = f"{method} {API}/{path}: {type(error).__name__}"
            raise ComfyUnreachable(self.base_url, reason) from error


@asynccontextmanager
async def _stream(client: httpx.AsyncClient | None, url: str) -> AsyncIterator[httpx.Response]:
    """GET ``url`` with ``client`` (the server's own, with its key), or with a client that
    sends nothing of ours (another host)."""
    try:
        if client is not None:
            async with client.stream("GET", url, follow_redirects=False) as response:
                yield response
            return
        async with (
            httpx.AsyncClient(follow_redirects=True) as plain,
            plain.stream("GET", url) as response,
        ):
            yield response
    except httpx.TransportError as error:
        raise ComfyUnreachable(httpx.URL(url).host, type(error).__name__) from error


async def _checked_chunks(response: httpx.Response, ref: OutputRef) -> AsyncIterator[bytes]:
    if response.status_code == 404:
        raise OutputUnavailable(ref.filename, "it is no longer on the server")
    if response.status_code != 200:
        await response.aread()
        raise _unexpected(response, "GET", "/assets/{id}/content")
    try:
        async for chunk in response.aiter_bytes(CHUNK_SIZE):
            yield chunk
    except httpx.TransportError as error:
        raise ComfyUnreachable(httpx.URL(str(response.url)).host, type(error).__name__) from error


def _error(response: httpx.Response) -> tuple[str, str, dict[str, Any]]:
    """The v2 error envelope's code, message and details (empty when it has none)."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        return "", str(error), {}
    details = error.get("details")
    return (
        str(error.get("code") or ""),
        str(error.get("message") or ""),
        details if isinstance(details, dict) else {},
    )


def _object(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
    if response.status_code not in (200, 201):
        raise _unexpected(response, method, path)
    try:
        body = response.json()
    except ValueError as error:
        raise ComfyProtocolError(method, path, "something other than JSON") from error
    if not isinstance(body, dict):
        raise ComfyProtocolError(method, path, "something other than an object")
    return body


def _unexpected(response: httpx.Response, method: str, path: str) -> ComfyHTTPError:
    return ComfyHTTPError(method, path, response.status_code, response.text[:500])


def _segment(value: str) -> str:
    return quote(value, safe="")


def _suffix(filename: str) -> str:
    dot = filename.rfind(".")
    suffix = filename[dot:].lower() if dot >= 0 else ""
    return suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ".png"
