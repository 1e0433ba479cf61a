"""AUTH_MODE=clerk: RS256 JWTs checked against a JWKS served by an in-process aiohttp server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from tests.conftest import make_settings
from tests.support.factories import Factory

Client = TestClient[web.Request, web.Application]
ISSUER = "https://clerk.example.test"


class Jwks:
    """A JWKS endpoint whose keys the test rotates; counts fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        self.rotate()

    def rotate(self) -> str:
        """Replace every key with a new one; return its kid."""
        kid = secrets.token_hex(8)
        self.keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        return kid

    @property
    def kid(self) -> str:
        return next(iter(self.keys))

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        entries = []
        for kid, key in self.keys.items():
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            entries.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return web.json_response({"keys": entries})

    def token(self, *, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": "user_123", "iss": ISSUER, "iat": now, "nbf": now - 5, "exp": now + 60}
        body.update(claims)
        kid = kid or self.kid
        key = self.keys.get(kid) or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def jwks() -> AsyncIterator[tuple[Jwks, str]]:
    keys = Jwks()
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", keys.handle)
    server = TestServer(app)
    await server.start_server()
    yield keys, str(server.make_url("/.well-known/jwks.json"))
    await server.close()


async def _clerk_client(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, url: str, **extra: Any
) -> Client:
    settings = make_settings(
        database_url,
        local_token,
        auth_mode="clerk",
        clerk_jwks_url=url,
        clerk_issuer=ISSUER,
        clerk_leeway_seconds=30,
        **extra,
    )
    return await aiohttp_client(create_app(settings))


async def test_clerk_tokens_are_checked_for_signature_time_and_issuer(
    aiohttp_client: AiohttpClient,
    database_url: str,
    local_token: str,
    factory: Factory,
    jwks: tuple[Jwks, str],
) -> None:
    keys, url = jwks
    client = await _clerk_client(aiohttp_client, database_url, local_token, url)
    path = f"/api/v1/boards/{await factory.board()}/tasks"
    now = int(time.time())

    async def status(token: str) -> int:
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        response.release()
        return response.status

    assert await status(keys.token()) == 200
    assert await status(keys.token(exp=now - 10)) == 200  # within the 30 s leeway
    assert await status(keys.token(exp=now - 120)) == 401
    assert await status(keys.token(nbf=now + 120)) == 401
    assert await status(keys.token(iss="https://evil.example.test")) == 401
    no_exp = keys.token()
    claims = jwt.decode(no_exp, options={"verify_signature": False})
    del claims["exp"]
    assert await status(jwt.encode(claims, keys.keys[keys.kid], "RS256", {"kid": keys.kid})) == 401
    unsigned = jwt.encode({"sub": "x", "iss": ISSUER, "exp": now + 60}, "", algorithm="none")
    assert await status(unsigned) == 401
    # HS256 "signed" with the public key: the classic algorithm-confusion forgery.
    public_pem = (
        keys.keys[keys.kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    forged = _hs256(public_pem, {"sub": "x", "iss": ISSUER, "exp": now + 60}, keys.kid)
    assert await status(forged) == 401
    assert await status(local_token) == 401  # the local token means nothing in clerk mode


def _hs256(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = part(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}))
    body = part(orjson.dumps(claims))
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{part(signature)}"


async def test_unknown_kid_refetches_at_a_bounded_rate_and_follows_rotation(
    aiohttp_client: AiohttpClient,
    database_url: str,
    local_token: str,
    factory: Factory,
    jwks: tuple[Jwks, str],
) -> None:
    keys, url = jwks
    client = await _clerk_client(
        aiohttp_client, database_url, local_token, url, clerk_jwks_min_refresh_seconds=1.0
    )
    path = f"/api/v1/boards/{await factory.board()}/tasks"

    async def status(token: str) -> int:
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        response.release()
        return response.status

    old = keys.token()
    assert await status(old) == 200
    fetches = keys.fetches
    # Tokens naming kids nobody published: refused, and they cannot force a fetch each.
    results = await asyncio.gather(
        *(status(keys.token(kid=secrets.token_hex(8))) for _ in range(50))
    )
    assert set(results) == {401}
    assert keys.fetches - fetches <= 1
    keys.rotate()
    new = keys.token()
    deadline = time.monotonic() + 5
    while await status(new) != 200:
        assert time.monotonic() < deadline, "rotated signing key never picked up"
        await asyncio.sleep(0.1)
    assert keys.fetches - fetches <= 3
    assert await status(keys.token()) == 200
    assert await status(old) == 401  # its key left the JWKS, so it left the cache too
