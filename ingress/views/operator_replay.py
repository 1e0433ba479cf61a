"""Operator API: replay stored deliveries, one by id or many by filter."""

from __future__ import annotations

from aiohttp import web
from redis.exceptions import RedisError

from ingress.auth.user import require_user
from ingress.keys import DB_POOL, QUEUE_REDIS, SETTINGS
from ingress.validation import json_response, parse_body, path_uuid
from shared.errors import NotFound, ServiceUnavailable
from shared.queries import deliveries as queries
from shared.replay import replay_matching, replay_one
from shared.schemas.replay import ReplayRequest


async def replay_delivery(request: web.Request) -> web.Response:
    """`POST …/payloads/{payload_id}/replay` → 202; the stored delivery is processed again."""
    await require_user(request)
    board_id, webhook_id = path_uuid(request, "board_id"), path_uuid(request, "webhook_id")
    payload_id = path_uuid(request, "payload_id")
    async with request.app[DB_POOL].acquire() as conn:
        exists = await queries.delivery_exists(conn, board_id, webhook_id, payload_id)
    if not exists:
        raise NotFound("Delivery not found.")
    settings = request.app[SETTINGS]
    try:
        replay_id = await replay_one(request.app[QUEUE_REDIS], settings.queue_name, payload_id)
    except (RedisError, OSError) as error:
        raise _queue_unavailable(error) from None
    return json_response(
        {"ok": True, "payload_id": str(payload_id), "replay_id": replay_id}, status=202
    )


async def replay_many(request: web.Request) -> web.Response:
    """`POST /api/v1/replay` `{filter…, "dry_run"}` → `{"matched", "replayed"}`."""
    await require_user(request)
    body = await parse_body(request, ReplayRequest)
    settings = request.app[SETTINGS]
    try:
        result = await replay_matching(
            request.app[DB_POOL],
            request.app[QUEUE_REDIS],
            queue_name=settings.queue_name,
            where=body.to_filter(),
            dry_run=body.dry_run,
            batch_size=settings.replay_batch_size,
            batch_interval_ms=settings.replay_batch_interval_ms,
        )
    except (RedisError, OSError) as error:
        raise _queue_unavailable(error) from None
    return json_response({"matched": result.matched, "replayed": result.replayed})


def _queue_unavailable(error: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(f"Queue unavailable ({type(error).__name__}); retry later.")
