"""Operator (user) authentication per AUTH_MODE."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from ingress.auth.clerk import ClerkVerifier
from ingress.keys import SETTINGS
from shared.errors import Unauthorized


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated operator."""

    subject: str


LOCAL_USER = User("local-operator")
CLERK_VERIFIER = web.AppKey("clerk_verifier", ClerkVerifier)


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def resolve_user(request: web.Request) -> User | None:
    """The operator making this request, or None when user auth does not succeed."""
    if "X-Agent-Token" in request.headers:
        return None  # an agent's request is never treated as a user's
    token = bearer_token(request)
    if token is None:
        return None
    settings = request.app[SETTINGS]
    if settings.auth_mode == "local":
        expected = settings.local_auth_token or ""
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return LOCAL_USER
        return None
    verifier = request.app.get(CLERK_VERIFIER)
    if verifier is None:
        return None
    subject = await verifier.subject(token)
    return User(subject) if subject is not None else None


async def require_user(request: web.Request) -> User:
    """The operator making this request; 401 otherwise."""
    user = await resolve_user(request)
    if user is None:
        raise Unauthorized("Not authenticated.")
    return user
