"""Pre-fill the queue through the ingress's own enqueue path (DeliveryQueue's batched Lua)."""

from __future__ import annotations

import asyncio
import time

from bench.env import Target
from ingress.delivery_queue import DeliveryQueue
from shared.ids import uuid7_str
from shared.jobs import Delivery
from shared.resp import PipelinedRedis

BODY = (
    b'{"action":"opened","number":1347,"repository":{"id":1296269,"full_name":"octo/hello",'
    b'"private":false},"sender":{"login":"octocat","id":1,"type":"User"},"pull_request":'
    b'{"title":"Amazing new feature","body":"Please pull these awesome changes in!",'
    b'"state":"open","draft":false,"additions":100,"deletions":3,"changed_files":5}}'
)
HEADERS = {"content-type": "application/json", "user-agent": "bench/1.0", "x-github-event": "pr"}


async def fill_queue(redis_url: str, queue_name: str, target: Target, count: int) -> float:
    """Enqueue `count` deliveries; return the seconds it took."""
    queue = DeliveryQueue(
        PipelinedRedis(redis_url, connect_timeout=30),
        queue_name=queue_name,
        namespace="mc",
        dedup_ttl_seconds=60,
        timeout_seconds=30,
    )
    started = time.perf_counter()
    try:
        now_ms = int(time.time() * 1000)
        for offset in range(0, count, 5_000):
            batch = [
                Delivery(
                    payload_id=uuid7_str(now_ms),  # as the ingress makes them
                    board_id=str(target.board_id),
                    webhook_id=str(target.webhook_id),
                    body=BODY,
                    headers=HEADERS,
                    source_ip="127.0.0.1",
                    content_type="application/json",
                    received_at_ms=now_ms,
                    webhook_description="bench",
                )
                for _ in range(min(5_000, count - offset))
            ]
            await asyncio.gather(*(queue.enqueue(d) for d in batch))
    finally:
        await queue.close()
    return time.perf_counter() - started
