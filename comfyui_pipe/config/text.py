"""The settings written as text, read: the server list, the header, the group weights,
the workflow ids. Each reader raises ``ValueError`` with a sentence for text it cannot
take; each is linear in the text, which the fields bound."""

from __future__ import annotations

import math
import re
import unicodedata
from urllib.parse import urlsplit

import httpx

from comfyui_pipe.comfy import V2_PREFIX

MAX_SERVERS = 64
MAX_GROUPS = 100
MIN_WEIGHT = 0.01
MAX_WEIGHT = 100.0

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOST = re.compile(r"[\w.-]+|\[[0-9A-Fa-f:.]+\]")
_EXAMPLE_URL = "http://127.0.0.1:8188"


def without_control_characters(text: str) -> str:
    """``text`` unchanged; refused when it holds a control character (a line break, a
    tab, NUL, …) or half of a UTF-16 surrogate pair."""
    if any(unicodedata.category(character) in ("Cc", "Cs") for character in text):
        raise ValueError("It holds a control character (such as a line break or a tab)")
    return text


def comma_separated(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def server_urls(text: str) -> tuple[str, ...]:
    """The servers of a comma-separated list, each without a trailing slash: a native
    ComfyUI's ``http(s)://`` URL, or a Comfy API v2 server's, ``comfy-v2+`` before it."""
    urls = comma_separated(text)
    if not urls:
        raise ValueError(f"Name at least one ComfyUI server, e.g. {_EXAMPLE_URL}")
    if len(urls) > MAX_SERVERS:
        raise ValueError(f"List at most {MAX_SERVERS} servers")
    seen: set[str] = set()
    for number, url in enumerate(urls, start=1):
        _check_server_url(url, number)
        if url.rstrip("/") in seen:
            raise ValueError(f"Server {number} is listed twice")
        seen.add(url.rstrip("/"))
    return tuple(url.rstrip("/") for url in urls)


def listed_servers(text: str) -> tuple[str, ...]:
    """Like :func:`server_urls`, but an empty list is allowed (no server named)."""
    return server_urls(text) if comma_separated(text) else ()


def model_folders(text: str) -> dict[str, str]:
    """``'http://comfyui:8188 = /models'`` as ``{"http://comfyui:8188": "/models"}``: where
    this process reaches each server's models folder (an absolute path)."""
    folders: dict[str, str] = {}
    for pair in comma_separated(text):
        url, sep, path = (side.strip() for side in pair.partition(" = " if " = " in pair else "="))
        if not sep or not url or not path:
            raise ValueError(
                "Write each models folder as 'server URL = path', e.g. "
                f"'{_EXAMPLE_URL} = /comfyui/models'"
            )
        (server,) = server_urls(url)
        if not path.startswith("/"):
            raise ValueError(f"The models folder of {server} must be an absolute path")
        if server in folders:
            raise ValueError(f"{server} is given a models folder twice")
        folders[server] = path.rstrip("/") or "/"
    return folders


def _check_server_url(url: str, number: int) -> None:
    # The URL itself is never quoted back: it may carry a password.
    where = f"Server {number}" if number > 1 else "The server"
    url = url.removeprefix(V2_PREFIX)
    try:
        parts = urlsplit(url)
        port = parts.port  # a ValueError unless a number up to 65535
        httpx.URL(url)  # the client's own reading (international host names)
    except (ValueError, httpx.InvalidURL):
        raise ValueError(f"{where} is not a valid URL, e.g. {_EXAMPLE_URL}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"{where} must start with http:// or https:// (a Comfy API v2 server with "
            f"{V2_PREFIX}https://), e.g. {_EXAMPLE_URL}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{where} holds a user name or password; give ComfyUI's credentials as "
            "comfyui_auth_header, comfyui_token or comfy_api_key instead"
        )
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if not parts.hostname or not _HOST.fullmatch(host) or port == 0:
        raise ValueError(f"{where} names no valid host, e.g. {_EXAMPLE_URL}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(f"{where} must not have a query (?…) or a fragment (#…)")
    if any(character.isspace() for character in url):
        raise ValueError(f"{where} holds a space")


def header(text: str) -> tuple[tuple[str, str], ...]:
    """``'Name: value'`` as ``(("Name", "value"),)``; blank text as no header."""
    if not text.strip():
        return ()
    name, colon, value = (side.strip() for side in text.partition(":"))
    if not colon or not _HEADER_NAME.fullmatch(name) or not value.isascii():
        raise ValueError(
            "Write the header as 'Name: value', e.g. 'Authorization: Bearer abc', with a "
            "name of letters, digits and dashes and a value of ASCII characters"
        )
    return ((name, value),)


def group_weights(text: str) -> dict[str, float]:
    """``'Pro = 3, Trial = 0.5'`` as ``{"Pro": 3.0, "Trial": 0.5}``."""
    pairs = comma_separated(text)
    if len(pairs) > MAX_GROUPS:
        raise ValueError(f"Weigh at most {MAX_GROUPS} groups")
    weights: dict[str, float] = {}
    folded: set[str] = set()
    for pair in pairs:
        name, sep, number = (side.strip() for side in pair.partition("="))
        if not sep or not name:
            raise ValueError(f"Write each group's weight as 'group = weight' (not '{pair}')")
        try:
            weight = float(number)
        except ValueError:
            weight = math.nan
        if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            raise ValueError(
                f"The weight of the group '{name}' must be a number from {MIN_WEIGHT:g} "
                f"to {MAX_WEIGHT:g}"
            )
        if name.casefold() in folded:
            raise ValueError(f"The group '{name}' is given a weight twice")
        folded.add(name.casefold())
        weights[name] = weight
    return weights
