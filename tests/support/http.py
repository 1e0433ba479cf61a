"""Small helpers for talking to the ingress in tests."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from aiohttp import web
from aiohttp.test_utils import TestClient


def ingest_path(board_id: uuid.UUID | str, webhook_id: uuid.UUID | str) -> str:
    """The ingest route of a webhook."""
    return f"/api/v1/boards/{board_id}/webhooks/{webhook_id}"


def github_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` as GitHub sends it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


Client = TestClient[web.Request, web.Application]
