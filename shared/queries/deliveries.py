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
# One statement per batch (atomic on its own, one round trip): the payload rows, their attempt
# history, memory entries and tasks. Inserts are ON CONFLICT DO NOTHING on unique keys
# (payload id; the sender's delivery id per webhook; one memory entry and one task per
# payload), so running a batch twice stores nothing twice. Memory and tasks are written for
# the payloads this statement stored and for those already stored as processed (a job that
# runs again fills in what is missing), never for failed ones. Every lookup is by primary
# key: a join the planner may turn into a scan of the whole table would grow with it.
_PERSIST_PROCESSED = """
WITH items AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bytea[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::int[],
        $12::text[], $13::text[], $14::text[])
        AS i(id, board_id, webhook_id, raw_body, payload, headers, source_ip, content_type,
             sender_delivery_id, received_at, attempts, memory_content, task_title,
             task_description)
), stored AS (
    INSERT INTO webhook_payloads (id, board_id, webhook_id, raw_body, payload, headers,
        source_ip, content_type, sender_delivery_id, received_at, status, attempts,
        processed_at)
    SELECT i.id, i.board_id, i.webhook_id, i.raw_body, i.payload::jsonb, i.headers::jsonb,
        i.source_ip, i.content_type, i.sender_delivery_id, i.received_at, 'processed',
        i.attempts, now()
    FROM items i
    ON CONFLICT DO NOTHING
    RETURNING id, board_id, webhook_id, attempts
), history AS (
    -- Only rows this statement stored get a history entry: a job run twice records one attempt.
    INSERT INTO webhook_payload_attempts (payload_id, attempt, kind, outcome)
    SELECT id, attempts, 'delivery', 'processed' FROM stored
), earlier AS (
    -- The statement's snapshot does not show the rows `stored` inserts: no overlap.
    SELECT i.id, p.board_id, p.webhook_id FROM items i
    CROSS JOIN LATERAL (
        SELECT p.board_id, p.webhook_id FROM webhook_payloads p
        WHERE p.id = i.id AND p.status = 'processed' LIMIT 1) p
), ready AS (
    SELECT r.id, r.board_id, r.webhook_id, i.memory_content, i.task_title, i.task_description
    FROM (SELECT id, board_id, webhook_id FROM stored UNION ALL SELECT * FROM earlier) r
    JOIN items i ON i.id = r.id
)
{work}
"""

# The memory entries and inbox tasks of the rows in `ready`. The task goes to the webhook's
# agent, else to the board's first lead (looked up once per board, not once per row).
_WORK = """
, memory AS (
    INSERT INTO board_memory (id, board_id, content, tags, source, payload_id)
    SELECT gen_random_uuid(), r.board_id, r.memory_content, ARRAY['webhook'], 'webhook', r.id
    FROM ready r
    ON CONFLICT (payload_id) DO NOTHING
), leads AS (
    SELECT DISTINCT ON (a.board_id) a.board_id, a.id FROM agents a
    WHERE a.is_board_lead AND a.board_id IN (SELECT board_id FROM ready)
    ORDER BY a.board_id, a.created_at
)
INSERT INTO tasks (id, board_id, title, description, status, assigned_agent_id, payload_id)
SELECT gen_random_uuid(), r.board_id, r.task_title, r.task_description, 'inbox',
    COALESCE(w.agent_id, l.id), r.id
FROM ready r JOIN webhooks w ON w.id = r.webhook_id
LEFT JOIN leads l ON l.board_id = r.board_id
ON CONFLICT (payload_id) DO NOTHING
"""

_PERSIST = _PERSIST_PROCESSED.format(work=_WORK)

_WRITE_WORK_READY = """
WITH items AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
        AS i(id, memory_content, task_title, task_description)
), ready AS (
    SELECT i.id, p.board_id, p.webhook_id, i.memory_content, i.task_title, i.task_description
    FROM items i
    CROSS JOIN LATERAL (
        SELECT p.board_id, p.webhook_id FROM webhook_payloads p
        WHERE p.id = i.id AND p.status = 'processed' LIMIT 1) p
)
"""
_WRITE_WORK = _WRITE_WORK_READY + _WORK


def _json_text(value: Any | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def persist_processed(conn: Conn, rows: list[PersistRow]) -> None:
    """Store processed deliveries with their memory entries and tasks, in one statement."""
    await conn.execute(
        _PERSIST,
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
        [r.memory_content for r in rows],
        [r.task_title for r in rows],
        [r.task_description for r in rows],
    )


async def write_work(conn: Conn, rows: list[PersistRow]) -> None:
    """Create the memory entries and inbox tasks of stored, processed deliveries (idempotent)."""
    await conn.execute(
        _WRITE_WORK,
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
