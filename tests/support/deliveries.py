"""Stored deliveries for tests, written with the worker's own row builder and queries."""

from __future__ import annotations

import time
import uuid

import asyncpg

from shared.jobs import Delivery
from shared.queries.deliveries import persist_failed, persist_processed
from workers.deliveries import build_row


def make_delivery(
    board_id: uuid.UUID,
    webhook_id: uuid.UUID,
    body: bytes = b'{"n": 1}',
    *,
    received_at_ms: int | None = None,
    sender_delivery_id: str | None = None,
) -> Delivery:
    """A delivery as the ingress would hand it to a worker."""
    return Delivery(
        payload_id=str(uuid.uuid4()),
        board_id=str(board_id),
        webhook_id=str(webhook_id),
        body=body,
        headers={"content-type": "application/json"},
        source_ip="127.0.0.1",
        content_type="application/json",
        received_at_ms=received_at_ms or int(time.time() * 1000),
        sender_delivery_id=sender_delivery_id,
    )


async def store(
    db: asyncpg.Pool, delivery: Delivery, *, failed: str | None = None, attempts: int = 1
) -> uuid.UUID:
    """Store `delivery` as processed, or as failed with error `failed`."""
    row = build_row(delivery, "", attempts)
    async with db.acquire() as conn:
        if failed is None:
            await persist_processed(conn, [row])
        else:
            await persist_failed(conn, row, failed)
    return row.payload_id


async def work_counts(db: asyncpg.Pool, payload_id: uuid.UUID) -> tuple[int, int, int]:
    """Rows for one payload: (payloads, memory entries, tasks)."""
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM webhook_payloads WHERE id = $1),
                  (SELECT count(*) FROM board_memory WHERE payload_id = $1),
                  (SELECT count(*) FROM tasks WHERE payload_id = $1)""",
        payload_id,
    )
    assert row is not None
    return (row[0], row[1], row[2])
