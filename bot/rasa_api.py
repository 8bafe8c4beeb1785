"""Tokens for the Rasa HTTP API: short-lived JWTs in a header, never a token in a URL.

Rasa runs with ``--jwt-secret`` (``bot.rasa_server``) and no static ``--auth-token``, so a
token can leak neither through ``ps`` nor through an access log or a proxy's URL log.
Haven's own clients (the staff console, tests, ``haven api-token``) sign a JWT with the
secret and send ``Authorization: Bearer <jwt>``.
"""

from __future__ import annotations

import time

import jwt

from bot.settings import Settings, get_settings

DEFAULT_TTL_SECONDS = 300


def signed_token(secret: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    """An admin JWT for Rasa's HTTP API signed with ``secret``, valid for ``ttl_seconds``."""
    now = int(time.time())
    claims = {"user": {"username": "haven", "role": "admin"}, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


def api_token(settings: Settings | None = None, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    """An admin JWT for this installation's Rasa HTTP API."""
    return signed_token((settings or get_settings()).rasa_token, ttl_seconds)


def auth_headers(settings: Settings | None = None) -> dict[str, str]:
    """Request headers that authorise a call to Rasa's HTTP API."""
    return {"Authorization": f"Bearer {api_token(settings)}"}
