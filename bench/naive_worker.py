"""Reference for (c): a plain arq worker, one job = one INSERT of the payload row, own transaction.

It reads the same queue and job format as the real worker, so the same pre-filled queue drains
through it. It stores only the payload row (the real worker also writes a memory entry and a
task per delivery), so the comparison flatters the reference, not us.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

from arq import Worker
from arq.connections import RedisSettings
from arq.worker import func

from shared.db import create_pool
from shared.jobs import PROCESS_DELIVERY, Delivery, deserialize_job, serialize_job
from shared.payloads import decode_payload, storable_json
from shared.settings import load_settings

_INSERT = """
INSERT INTO webhook_payloads (id, board_id, webhook_id, raw_body, payload, headers, source_ip,
    content_type, sender_delivery_id, received_at, status, attempts, processed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'processed', $11, now())
ON CONFLICT DO NOTHING
"""


async def naive_delivery(ctx: dict[str, Any], envelope: dict[str, Any]) -> None:
    """Store one delivery with one INSERT in its own transaction."""
    delivery = Delivery.from_envelope(envelope)
    value = decode_payload(delivery.body, delivery.content_type)
    async with ctx["pool"].acquire() as conn, conn.transaction():
        await conn.execute(
            _INSERT,
            uuid.UUID(delivery.payload_id),
            uuid.UUID(delivery.board_id),
            uuid.UUID(delivery.webhook_id),
            delivery.body,
            storable_json(value),
            delivery.headers,
            delivery.source_ip,
            delivery.content_type,
            delivery.sender_delivery_id,
            datetime.fromtimestamp(delivery.received_at_ms / 1000, UTC),
            ctx.get("job_try", 1),
        )


async def noop_delivery(_ctx: dict[str, Any], _envelope: dict[str, Any]) -> None:
    """Do nothing: what arq alone costs per job (its ceiling on this machine)."""


def main() -> None:
    """Run the naive worker with the real worker's queue, concurrency and pool size."""
    settings = load_settings()
    assert settings.database_url
    database_url = settings.database_url
    job = func(
        noop_delivery if os.environ.get("BENCH_NOOP") == "1" else naive_delivery,  # type: ignore[arg-type]
        name=PROCESS_DELIVERY,
    )

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["pool"] = await create_pool(database_url, min_size=1, max_size=8)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        if "pool" in ctx:
            await ctx["pool"].close()

    worker = Worker(
        functions=[job],
        queue_name=settings.queue_name,
        redis_settings=RedisSettings.from_dsn(settings.rq_redis_url),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        max_jobs=int(os.environ.get("NAIVE_MAX_JOBS", settings.worker_max_jobs)),
        keep_result=0,
        poll_delay=0.05,
        handle_signals=True,
    )
    worker.run()


if __name__ == "__main__":
    main()
