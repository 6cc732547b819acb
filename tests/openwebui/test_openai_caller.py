"""Who Open WebUI's image feature calls for: the user named in the headers it forwards
to engines — its signed JWT when it has a secret for one (a forged or expired one names
nobody), else the id header — and nobody when it forwards none."""

from __future__ import annotations

import time

import jwt

from comfyui_pipe.openwebui.api.openai.caller import engine_key, forwarded_user_id
from comfyui_pipe.openwebui.host import HostImages
from comfyui_pipe.openwebui.host_values import UserForwarding

SECRET = "a forwarding secret of 32 bytes."
GUESSED = "a guessed secret, also 32 bytes."
SIGNED = UserForwarding(True, "X-OpenWebUI-User-Id", "X-OpenWebUI-User-Jwt", SECRET)
PLAIN = UserForwarding(True, "X-OpenWebUI-User-Id", "X-OpenWebUI-User-Jwt", None)


def claim(user_id: str, secret: str = SECRET, expires_in: int = 300) -> str:
    now = int(time.time())
    payload = {"sub": user_id, "iss": "open-webui", "iat": now, "exp": now + expires_in}
    return jwt.encode(payload, secret, algorithm="HS256")


def test_a_signed_claim_names_the_user_and_a_forged_or_expired_one_nobody() -> None:
    assert forwarded_user_id(SIGNED, {"X-OpenWebUI-User-Jwt": claim("u1")}) == "u1"
    assert forwarded_user_id(SIGNED, {"X-OpenWebUI-User-Jwt": claim("u1", GUESSED)}) is None
    assert forwarded_user_id(SIGNED, {"X-OpenWebUI-User-Jwt": claim("u1", expires_in=-60)}) is None
    # with a secret, the plain id header is not believed
    assert forwarded_user_id(SIGNED, {"X-OpenWebUI-User-Id": "u1"}) is None


def test_without_a_secret_the_id_header_names_the_user_and_nothing_forwarded_nobody() -> None:
    assert forwarded_user_id(PLAIN, {"X-OpenWebUI-User-Id": "u2"}) == "u2"
    assert forwarded_user_id(PLAIN, {}) is None
    off = UserForwarding(False, "X-OpenWebUI-User-Id", "X-OpenWebUI-User-Jwt", None)
    assert forwarded_user_id(off, {"X-OpenWebUI-User-Id": "u2"}) is None


def test_the_engine_key_is_the_deployments_own_and_stable() -> None:
    images = HostImages()
    key = engine_key(images)

    assert key == engine_key(HostImages()) and key.startswith("cp-") and len(key) > 40
    assert images.secret_key not in key and not key.startswith("sk-")
