"""Clerk mode: RS256 session JWTs verified against the Clerk instance's JWKS.

Keys are cached by `kid`. A token naming a `kid` the cache lacks triggers one refetch (keys
rotate), shared by concurrent requests and at most one per `min_refresh_seconds`, so tokens
with random `kid`s cannot turn into a fetch each. Only RS256 is accepted (never `none` or an
HMAC algorithm keyed with the public key).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import jwt
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

_ALGORITHMS = ["RS256"]


class JwksCache:
    """`kid` → RSA public key, fetched from a JWKS URL."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        min_refresh_seconds: float = 10.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._session = session
        self._url = url
        self._min_refresh = min_refresh_seconds
        self._timeout = timeout_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._inflight: asyncio.Task[None] | None = None

    async def key(self, kid: str) -> Any | None:
        """The public key for `kid`, refetching the JWKS once if it is unknown and allowed."""
        if kid in self._keys:
            return self._keys[kid]
        now = time.monotonic()
        if self._fetched_at is None or now - self._fetched_at >= self._min_refresh:
            await self.refresh()
        return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetch the JWKS (one fetch shared by concurrent callers); keep old keys on failure."""
        task = self._inflight
        if task is None:
            self._fetched_at = time.monotonic()
            task = self._inflight = asyncio.create_task(self._fetch(), name="clerk-jwks")
            task.add_done_callback(self._clear)
        await asyncio.shield(task)

    def _clear(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _fetch(self) -> None:
        try:
            async with asyncio.timeout(self._timeout), self._session.get(self._url) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("fetching the Clerk JWKS failed (%s)", type(error).__name__)
            return
        self._keys = parse_jwks(document)
        log.info("Clerk JWKS loaded with %d key(s)", len(self._keys))


def parse_jwks(document: object) -> dict[str, Any]:
    """The RSA signing keys of a JWKS document by `kid`; other keys are ignored."""
    keys: dict[str, Any] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str):
            continue
        try:
            keys[kid] = RSAAlgorithm.from_jwk(entry)
        except (jwt.InvalidKeyError, ValueError, KeyError, TypeError):
            continue
    return keys


class ClerkVerifier:
    """Verifies a Clerk session token; returns its subject."""

    def __init__(self, jwks: JwksCache, *, issuer: str, leeway_seconds: int) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._leeway = leeway_seconds

    async def subject(self, token: str) -> str | None:
        """The `sub` of a valid token, or None (bad signature, expired, wrong issuer, ...)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid = header.get("kid")
        if header.get("alg") not in _ALGORITHMS or not isinstance(kid, str):
            return None
        key = await self._jwks.key(kid)
        if key is None:
            return None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=_ALGORITHMS,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.PyJWTError:
            return None
        subject = claims.get("sub")
        return subject if isinstance(subject, str) and subject else None
