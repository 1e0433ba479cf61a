"""Put deliveries on a test's queue directly, as the ingress would."""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from ingress.delivery_queue import DeliveryQueue
from shared.jobs import Delivery
from shared.settings import Settings


async def enqueue_deliveries(
    settings: Settings, board: uuid.UUID, webhook: uuid.UUID, count: int
) -> list[str]:
    """Enqueue `count` small JSON deliveries; return their payload ids."""
    redis = Redis.from_url(settings.rq_redis_url)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    try:
        queue = DeliveryQueue(
            redis,
            queue_name=settings.queue_name,
            namespace=settings.redis_namespace,
            dedup_ttl_seconds=60,
            timeout_seconds=5,
        )
        for n, payload_id in enumerate(ids):
            await queue.enqueue(
                Delivery(
                    payload_id=payload_id,
                    board_id=str(board),
                    webhook_id=str(webhook),
                    body=b'{"n": %d}' % n,
                    headers={},
                    source_ip="127.0.0.1",
                    content_type="application/json",
                    received_at_ms=int(time.time() * 1000),
                )
            )
    finally:
        await redis.aclose()
    return ids
