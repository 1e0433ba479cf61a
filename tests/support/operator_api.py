"""Talking to the operator API and the ingest route in tests, remembering every answer."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status and decoded JSON body (None when empty)."""

    status: int
    body: Any


class OperatorApi:
    """Operator calls with the local token; `texts` keeps every response body for leak checks."""

    def __init__(self, client: Client, token: str) -> None:
        self.client = client
        self.token = token
        self.texts: list[str] = []

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request; `body` is sent as JSON, `raw` as it is."""
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        response = await self.client.request(method, path, data=data, headers=sent)
        text = await response.text()
        self.texts.append(text)
        return Reply(response.status, orjson.loads(text) if text else None)

    async def board(self, name: str = "board") -> dict[str, Any]:
        """A new board through the API."""
        reply = await self.call("POST", "/api/v1/boards", {"name": name})
        assert reply.status == 201, reply
        result: dict[str, Any] = reply.body
        return result

    async def webhook(self, board_id: str, **fields: Any) -> dict[str, Any]:
        """A new webhook through the API."""
        reply = await self.call("POST", f"/api/v1/boards/{board_id}/webhooks", fields)
        assert reply.status == 201, reply
        result: dict[str, Any] = reply.body
        return result


def sign(secret: str, body: bytes) -> str:
    """The default scheme's signature header value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(
    client: Client,
    board_id: uuid.UUID | str,
    webhook_id: uuid.UUID | str,
    body: bytes = b'{"event": "ping"}',
    *,
    secret: str | None = None,
    content_type: str = "application/json",
) -> Reply:
    """POST one delivery to the ingest route, signed when `secret` is given."""
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    response = await client.post(
        f"/api/v1/boards/{board_id}/webhooks/{webhook_id}", data=body, headers=headers
    )
    text = await response.text()
    return Reply(response.status, orjson.loads(text) if text else None)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Poll `check` until it holds; fail once `timeout` seconds pass without it."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition did not hold within {timeout} s")
        await asyncio.sleep(0.05)
