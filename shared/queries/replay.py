"""Selecting deliveries to replay, and storing what a replay of one delivery did."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from shared.db import Conn
from shared.queries.attempts import error_text

DeliveryStatus = Literal["processed", "failed"]

_STATUS_CONDITIONS: dict[DeliveryStatus, str] = {
    "processed": "status = 'processed'",
    "failed": "status = 'failed'",
}


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which stored deliveries a bulk replay covers; an empty filter covers all of them."""

    ids: tuple[uuid.UUID, ...] = ()
    board_id: uuid.UUID | None = None
    webhook_id: uuid.UUID | None = None
    status: DeliveryStatus | None = None
    received_after: datetime | None = None
    received_before: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition (only the parts that are set) and its parameters."""
        parts: list[str] = []
        params: list[Any] = []

        def add(condition: str, value: Any) -> None:
            params.append(value)
            parts.append(condition.format(f"${len(params)}"))

        if self.ids:
            add("id = ANY({}::uuid[])", list(self.ids))
        if self.board_id is not None:
            add("board_id = {}", self.board_id)
        if self.webhook_id is not None:
            add("webhook_id = {}", self.webhook_id)
        if self.status is not None:
            # Written out, not a parameter: a prepared statement's generic plan could not use
            # the partial index on failed deliveries for `status = $n`.
            parts.append(_STATUS_CONDITIONS[self.status])
        if self.received_after is not None:
            add("received_at >= {}", self.received_after)
        if self.received_before is not None:
            add("received_at < {}", self.received_before)
        return (" AND ".join(parts) or "true"), params


Position = tuple[datetime, uuid.UUID]


async def count_matching(conn: Conn, where: ReplayFilter) -> int:
    """How many stored deliveries the filter covers."""
    condition, params = where.where()
    return int(
        await conn.fetchval(f"SELECT count(*) FROM webhook_payloads WHERE {condition}", *params)
    )


def page_query(where: ReplayFilter, after: Position | None, limit: int) -> tuple[str, list[Any]]:
    """The SQL and parameters of one page of `matching_page`."""
    condition, params = where.where()
    if after is not None:
        params += list(after)
        condition += f" AND (received_at, id) > (${len(params) - 1}, ${len(params)})"
    params.append(limit)
    return (
        f"SELECT received_at, id FROM webhook_payloads WHERE {condition}"
        f" ORDER BY received_at, id LIMIT ${len(params)}"
    ), params


async def matching_page(
    conn: Conn, where: ReplayFilter, after: Position | None, limit: int
) -> list[Position]:
    """The next `limit` matching deliveries after `after`, in (received_at, id) order.

    Keyset pagination: each page is an index range scan from where the last one ended, so a
    walk over 100,000 rows holds one page in memory and never re-reads what it has passed.
    """
    sql, params = page_query(where, after, limit)
    rows = await conn.fetch(sql, *params)
    return [(r["received_at"], r["id"]) for r in rows]


async def lock_for_replay(conn: Conn, payload_id: uuid.UUID) -> asyncpg.Record | None:
    """A stored delivery with its webhook's description, locked until the transaction ends."""
    return await conn.fetchrow(
        """
        SELECT p.id, p.board_id, p.webhook_id, p.raw_body, p.headers, p.source_ip,
            p.content_type, p.sender_delivery_id, p.received_at, p.status, p.attempts,
            w.description
        FROM webhook_payloads p JOIN webhooks w ON w.id = p.webhook_id
        WHERE p.id = $1
        FOR UPDATE OF p
        """,
        payload_id,
    )


async def mark_replay_processed(conn: Conn, payload_id: uuid.UUID, payload: Any | None) -> int:
    """Record a successful replay: `processed`, one more attempt; the new attempt count."""
    attempts: int = await conn.fetchval(
        """
        UPDATE webhook_payloads
        SET status = 'processed', payload = COALESCE($2::jsonb, payload),
            attempts = attempts + 1, last_error = NULL,
            processed_at = COALESCE(processed_at, now()), updated_at = now()
        WHERE id = $1
        RETURNING attempts
        """,
        payload_id,
        payload,
    )
    return attempts


async def mark_replay_failed(conn: Conn, payload_id: uuid.UUID, error: str) -> int | None:
    """Record a failed replay: one more attempt and its error, status unchanged."""
    attempts: int | None = await conn.fetchval(
        """
        UPDATE webhook_payloads
        SET attempts = attempts + 1, last_error = $2, updated_at = now()
        WHERE id = $1
        RETURNING attempts
        """,
        payload_id,
        error_text(error),
    )
    return attempts
