"""Put deliveries on a test's queue directly, as the ingress would."""

from __future__ import annotations

import asyncio
import time
import uuid

from ingress.delivery_queue import DeliveryQueue
from shared.jobs import Delivery
from shared.resp import PipelinedRedis
from shared.settings import Settings


def delivery_queue(settings: Settings) -> DeliveryQueue:
    """A queue on the test's Redis built as the ingress builds it; `close()` it after use."""
    return DeliveryQueue(
        PipelinedRedis(settings.rq_redis_url, connect_timeout=5),
        queue_name=settings.queue_name,
        namespace=settings.redis_namespace,
        dedup_ttl_seconds=60,
        timeout_seconds=5,
    )


async def enqueue_all(settings: Settings, deliveries: list[Delivery]) -> None:
    """Queue `deliveries` exactly as the ingress does (concurrently, so they share batches)."""
    queue = delivery_queue(settings)
    try:
        await asyncio.gather(*(queue.enqueue(d) for d in deliveries))
    finally:
        await queue.close()


async def enqueue_deliveries(
    settings: Settings, board: uuid.UUID, webhook: uuid.UUID, count: int
) -> list[str]:
    """Enqueue `count` small JSON deliveries; return their payload ids."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    queue = delivery_queue(settings)
    try:
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
        await queue.close()
    return ids
