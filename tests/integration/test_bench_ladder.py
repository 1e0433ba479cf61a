"""The benchmark ladder's servers answer like the ingress at their level, and really enqueue."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from bench.ladder_server import LEVELS, build_app
from shared.settings import Settings
from shared.webhook_config import WebhookConfig

BODY = b'{"action": "opened", "number": 1}'


@pytest.mark.parametrize("level", [0, *LEVELS])
async def test_each_level_answers_202_and_levels_from_3_enqueue(
    aiohttp_client: AiohttpClient, settings: Settings, level: int
) -> None:
    secret = secrets.token_urlsafe(24)
    board, hook = str(uuid.uuid4()), str(uuid.uuid4())
    config = WebhookConfig(hook, board, True, secret=secret)
    app = build_app(
        level,
        config,
        settings.rq_redis_url,
        queue_name=settings.queue_name,
        namespace=settings.redis_namespace,
    )
    client = await aiohttp_client(app)
    signature = "sha256=" + hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    reply = await client.post(
        f"/api/v1/boards/{board}/webhooks/{hook}",
        data=BODY,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    assert reply.status == 202
    answer = await reply.json()
    redis = Redis.from_url(settings.rq_redis_url)
    try:
        queued = await redis.zcard(settings.queue_name)
    finally:
        await redis.aclose()
    if level < 2:
        assert answer == {"ok": True}
        return
    assert (answer["board_id"], answer["webhook_id"]) == (board, hook)
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert len(reply.headers["X-Request-Id"]) == 32
    assert queued == (1 if level >= 3 else 0)
    if level in (4, 5):  # the signature is checked: a wrong one is refused
        bad = await client.post(
            f"/api/v1/boards/{board}/webhooks/{hook}",
            data=BODY,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"},
        )
        assert bad.status == 403
