"""Who calls the images API: a user with an Open WebUI API key or token, or Open WebUI's
own image feature (its engine "OpenAI" pointed here) calling for one of its users.

Open WebUI's image feature sends one key for everyone: the engine key, which only this
deployment can make (from its secret key) and which ``image_engine`` writes into Open
WebUI's image settings. With it comes the user Open WebUI calls for, in the headers it
forwards to engines (``ENABLE_FORWARD_USER_INFO_HEADERS=true``; signed when Open WebUI
has ``FORWARD_USER_INFO_HEADER_JWT_SECRET``). The job is that user's: their workflows,
their limit, their turn in the queue, their files. Without those headers the engine key
is refused with a sentence saying what to set.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated

import jwt
from fastapi import Depends, Request, status

from comfyui_pipe.openwebui.api.common import Runtime
from comfyui_pipe.openwebui.host import HostImages, signed_in
from comfyui_pipe.openwebui.host_values import User, UserForwarding

from .errors import ImagesAPIError

ENGINE_KEY_PURPOSE = b"comfyui-pipe: Open WebUI's image engine"
NO_FORWARDED_USER = (
    "Open WebUI's image feature reached ComfyUI without saying who is asking; start Open "
    "WebUI with ENABLE_FORWARD_USER_INFO_HEADERS=true."
)
UNKNOWN_FORWARDED_USER = (
    "Open WebUI's image feature called for a user who does not exist or is not signed up yet."
)
SIGNED_IN_ROLES = ("user", "admin")
"""Open WebUI's verified roles (a pending user may use nothing)."""


def engine_key(images: HostImages) -> str:
    """The key Open WebUI's image feature sends (the same in every replica)."""
    secret = images.secret_key.encode()
    return "cp-" + hmac.new(secret, ENGINE_KEY_PURPOSE, hashlib.sha256).hexdigest()


def forwarded_user_id(forwarding: UserForwarding, headers: Mapping[str, str]) -> str | None:
    """The user Open WebUI says it calls for; None when it says none (or a signed claim
    does not verify)."""
    if not forwarding.enabled:
        return None
    if forwarding.jwt_secret is None:
        return headers.get(forwarding.id_header) or None
    token = headers.get(forwarding.jwt_header, "")
    try:
        claims = jwt.decode(token, forwarding.jwt_secret, ["HS256"], issuer="open-webui")
    except jwt.PyJWTError:
        return None
    return str(claims.get("sub") or "") or None


async def _caller(request: Request, runtime: Runtime) -> User:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    images = runtime.host.images
    if scheme.lower() != "bearer" or not hmac.compare_digest(token, engine_key(images)):
        return await signed_in(request)
    user_id = forwarded_user_id(images.forwarding, request.headers)
    if user_id is None:
        raise ImagesAPIError(status.HTTP_401_UNAUTHORIZED, NO_FORWARDED_USER, "no_user")
    user = await runtime.host.users.get(user_id)
    if user is None or user.role not in SIGNED_IN_ROLES:
        raise ImagesAPIError(status.HTTP_401_UNAUTHORIZED, UNKNOWN_FORWARDED_USER, "no_user")
    return user


Caller = Annotated[User, Depends(_caller)]
