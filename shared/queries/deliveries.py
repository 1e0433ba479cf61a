"""Writing and reading stored deliveries (`webhook_payloads`) and the work they create."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from shared.db import Conn
from shared.queries.attempts import error_text


@dataclass(frozen=True, slots=True)
class PersistRow:
    """Everything one processed delivery writes: payload row, memory entry and task."""

    payload_id: uuid.UUID
    board_id: uuid.UUID
    webhook_id: uuid.UUID
    raw_body: bytes
    payload: Any | None
    headers: dict[str, str]
    source_ip: str
    content_type: str | None
    sender_delivery_id: str | None
    received_at: datetime
    attempts: int
    memory_content: str
    task_title: str
    task_description: str


# JSON travels as text (encoded once by orjson): asyncpg would read a JSON array inside a
# jsonb[] parameter as another array dimension.
# Inserts are ON CONFLICT DO NOTHING on unique keys (payload id; the sender's delivery id per
# webhook; one memory entry and one task per payload), so running a batch twice stores nothing
# twice. Memory and tasks are only written for payloads that are stored and processed.
_INSERT_PAYLOADS = """
INSERT INTO webhook_payloads (id, board_id, webhook_id, raw_body, payload, headers, source_ip,
    content_type, sender_delivery_id, received_at, status, attempts, processed_at)
SELECT r.id, r.board_id, r.webhook_id, r.raw_body, r.payload::jsonb, r.headers::jsonb,
    r.source_ip, r.content_type, r.sender_delivery_id, r.received_at, 'processed', r.attempts,
    now()
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bytea[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::int[])
    AS r(id, board_id, webhook_id, raw_body, payload, headers, source_ip, content_type,
         sender_delivery_id, received_at, attempts)
ON CONFLICT DO NOTHING
RETURNING id, attempts
"""

# Only rows this statement stored get a history entry: a job run twice records one attempt.
_INSERT_PAYLOADS_WITH_ATTEMPTS = f"""
WITH stored AS ({_INSERT_PAYLOADS})
INSERT INTO webhook_payload_attempts (payload_id, attempt, kind, outcome)
SELECT id, attempts, 'delivery', 'processed' FROM stored
"""

_INSERT_WORK = """
WITH items AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
        AS i(payload_id, memory_content, task_title, task_description)
), ready AS (
    SELECT i.*, p.board_id, p.webhook_id FROM items i
    JOIN webhook_payloads p ON p.id = i.payload_id AND p.status = 'processed'
), memory AS (
    INSERT INTO board_memory (id, board_id, content, tags, source, payload_id)
    SELECT gen_random_uuid(), r.board_id, r.memory_content, ARRAY['webhook'], 'webhook',
        r.payload_id
    FROM ready r
    ON CONFLICT (payload_id) DO NOTHING
)
INSERT INTO tasks (id, board_id, title, description, status, assigned_agent_id, payload_id)
SELECT gen_random_uuid(), r.board_id, r.task_title, r.task_description, 'inbox',
    COALESCE(w.agent_id, (
        SELECT a.id FROM agents a WHERE a.board_id = r.board_id AND a.is_board_lead
        ORDER BY a.created_at LIMIT 1)),
    r.payload_id
FROM ready r JOIN webhooks w ON w.id = r.webhook_id
ON CONFLICT (payload_id) DO NOTHING
"""


def _json_text(value: Any | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def persist_processed(conn: Conn, rows: list[PersistRow]) -> None:
    """Store processed deliveries with their memory entries and tasks, in one transaction."""
    async with conn.transaction():
        await conn.execute(
            _INSERT_PAYLOADS_WITH_ATTEMPTS,
            [r.payload_id for r in rows],
            [r.board_id for r in rows],
            [r.webhook_id for r in rows],
            [r.raw_body for r in rows],
            [_json_text(r.payload) for r in rows],
            [orjson.dumps(r.headers).decode() for r in rows],
            [r.source_ip for r in rows],
            [r.content_type for r in rows],
            [r.sender_delivery_id for r in rows],
            [r.received_at for r in rows],
            [r.attempts for r in rows],
        )
        await write_work(conn, rows)


async def write_work(conn: Conn, rows: list[PersistRow]) -> None:
    """Create the memory entries and inbox tasks of stored, processed deliveries (idempotent)."""
    await conn.execute(
        _INSERT_WORK,
        [r.payload_id for r in rows],
        [r.memory_content for r in rows],
        [r.task_title for r in rows],
        [r.task_description for r in rows],
    )


async def persist_failed(conn: Conn, row: PersistRow, error: str) -> None:
    """Keep a delivery that could not be processed as `failed`, replayable later.

    Its text fields are made storable first (NUL cannot live in PostgreSQL text), so data that
    broke processing can still be kept for an operator to look at; the raw body stays whole.
    """
    await conn.execute(
        """
        WITH stored AS (
            INSERT INTO webhook_payloads (id, board_id, webhook_id, raw_body, payload, headers,
                source_ip, content_type, sender_delivery_id, received_at, status, attempts,
                last_error)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'failed', $11, $12)
            ON CONFLICT DO NOTHING
            RETURNING id, attempts, last_error
        )
        INSERT INTO webhook_payload_attempts (payload_id, attempt, kind, outcome, error)
        SELECT id, attempts, 'delivery', 'failed', last_error FROM stored
        """,
        row.payload_id,
        row.board_id,
        row.webhook_id,
        row.raw_body,
        row.payload,
        {_clean(k): _clean(v) for k, v in row.headers.items()},
        _clean(row.source_ip),
        _clean_optional(row.content_type),
        _clean_optional(row.sender_delivery_id),
        row.received_at,
        row.attempts,
        error_text(error),
    )


def _clean(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _clean_optional(text: str | None) -> str | None:
    return None if text is None else _clean(text)


# raw_body, not the payload column: that is NULL when PostgreSQL could not hold the value.
DELIVERY_COLUMNS = (
    "id, board_id, webhook_id, raw_body, headers, source_ip, content_type, received_at,"
    " status, attempts, last_error, processed_at"
)


async def list_deliveries(
    conn: Conn,
    board_id: uuid.UUID,
    webhook_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], int]:
    """A page of a webhook's stored deliveries, newest first, and their total count."""
    where = "board_id = $1 AND webhook_id = $2 AND ($3::text IS NULL OR status = $3)"
    rows = await conn.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_payloads WHERE {where}"
        " ORDER BY received_at DESC, id DESC LIMIT $4 OFFSET $5",
        board_id,
        webhook_id,
        status,
        limit,
        offset,
    )
    total = await conn.fetchval(
        f"SELECT count(*) FROM webhook_payloads WHERE {where}", board_id, webhook_id, status
    )
    return list(rows), int(total)


async def delivery_exists(
    conn: Conn, board_id: uuid.UUID, webhook_id: uuid.UUID, payload_id: uuid.UUID
) -> bool:
    """Whether this board's webhook has this stored delivery (without reading its body)."""
    found = await conn.fetchval(
        "SELECT 1 FROM webhook_payloads WHERE id = $1 AND board_id = $2 AND webhook_id = $3",
        payload_id,
        board_id,
        webhook_id,
    )
    return found is not None


async def get_delivery(
    conn: Conn, board_id: uuid.UUID, webhook_id: uuid.UUID, payload_id: uuid.UUID
) -> asyncpg.Record | None:
    """One stored delivery of this board's webhook, or None."""
    return await conn.fetchrow(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_payloads"
        " WHERE id = $1 AND board_id = $2 AND webhook_id = $3",
        payload_id,
        board_id,
        webhook_id,
    )
