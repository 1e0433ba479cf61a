"""Board memory entries and the stored webhook bodies agents read."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Conn

MEMORY_COLUMNS = "id, board_id, content, tags, is_chat, source, payload_id, created_at"


async def list_memory(
    conn: Conn,
    board_id: uuid.UUID,
    *,
    is_chat: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[asyncpg.Record], int]:
    """A page of a board's memory, newest first, and the total matching."""
    condition = "board_id = $1" + ("" if is_chat is None else " AND is_chat = $2")
    args: list[object] = [board_id] if is_chat is None else [board_id, is_chat]
    total: int = await conn.fetchval(f"SELECT count(*) FROM board_memory WHERE {condition}", *args)
    rows = await conn.fetch(
        f"SELECT {MEMORY_COLUMNS} FROM board_memory WHERE {condition}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return rows, total


async def create_memory(
    conn: Conn, board_id: uuid.UUID, content: str, *, is_chat: bool = False, source: str = "agent"
) -> asyncpg.Record:
    """Insert a memory entry and return it."""
    row = await conn.fetchrow(
        "INSERT INTO board_memory (id, board_id, content, is_chat, source)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {MEMORY_COLUMNS}",
        uuid.uuid4(),
        board_id,
        content,
        is_chat,
        source,
    )
    assert row is not None
    return row


async def fetch_payload_body(
    conn: Conn, board_id: uuid.UUID, webhook_id: uuid.UUID, payload_id: uuid.UUID
) -> asyncpg.Record | None:
    """A stored delivery's raw body and content type, if it belongs to that board and webhook."""
    return await conn.fetchrow(
        "SELECT id, board_id, webhook_id, raw_body, content_type, received_at"
        " FROM webhook_payloads WHERE id = $1 AND board_id = $2 AND webhook_id = $3",
        payload_id,
        board_id,
        webhook_id,
    )
