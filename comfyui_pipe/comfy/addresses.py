"""A server entry of the settings: which protocol it speaks, and where.

``http://host:8188`` (or ``https://``) is a native ComfyUI. ``comfy-v2+https://host`` (or
``comfy-v2+http://``) is a server of the Comfy API v2 at ``https://host`` — Comfy Cloud
(``comfy-v2+https://cloud.comfy.org``) or ``comfy-api-proxy`` in front of a ComfyUI;
the settings' API key goes to these only. The entry, as written, is the server's name
everywhere (the pool's key, a job record's ``backend``), so a record always says which
protocol its server speaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .backend import Backend
from .client import ComfyClient
from .job import JobTimeouts
from .server import ComfyServer
from .v2 import V2Client, V2Server

V2_PREFIX = "comfy-v2+"


@dataclass(frozen=True)
class ServerAddress:
    entry: str
    """As the settings write it."""
    base_url: str
    """Where its requests go (http or https)."""
    v2: bool


def server_address(entry: str) -> ServerAddress:
    entry = entry.rstrip("/")
    if entry.startswith(V2_PREFIX):
        return ServerAddress(entry, entry.removeprefix(V2_PREFIX), v2=True)
    return ServerAddress(entry, entry, v2=False)


@dataclass(frozen=True)
class Credentials:
    """What every server of the pool is sent: the header of an authenticating proxy and a
    ComfyUI-Login token (native servers), the API key (v2 servers)."""

    headers: Mapping[str, str]
    token: str | None = None
    api_key: str | None = None


def open_backend(
    entry: str,
    credentials: Credentials,
    timeouts: JobTimeouts,
    client_id: str | None = None,
) -> Backend:
    """The backend of ``entry`` (not entered yet); ``client_id``: the ComfyUI clientId of
    a native server's socket."""
    address = server_address(entry)
    if address.v2:
        client = V2Client(address.base_url, credentials.headers, credentials.api_key, timeouts)
        return V2Server(entry, client)
    return ComfyServer(
        address.base_url,
        headers=credentials.headers,
        token=credentials.token,
        client_id=client_id,
        timeouts=timeouts,
    )


async def cancel_on(
    entry: str, prompt_id: str, credentials: Credentials, timeouts: JobTimeouts
) -> None:
    """Cancel ``prompt_id`` on a server no pool holds open (one the settings named when
    the job started), without opening its live channel."""
    address = server_address(entry)
    if address.v2:
        client = V2Client(address.base_url, credentials.headers, credentials.api_key, timeouts)
        async with client:
            await client.cancel(prompt_id)
        return
    async with ComfyClient(
        address.base_url,
        headers=credentials.headers,
        token=credentials.token,
        timeout=timeouts.connect,
    ) as native:
        await native.cancel(prompt_id)
