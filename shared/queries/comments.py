"""Comments on tasks."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Conn

COMMENT_COLUMNS = "id, task_id, agent_id, message, created_at"


async def create_comment(
    conn: Conn, task_id: uuid.UUID, agent_id: uuid.UUID | None, message: str
) -> asyncpg.Record:
    """Insert a comment (`agent_id` None for an operator's) and return it."""
    row = await conn.fetchrow(
        "INSERT INTO task_comments (id, task_id, agent_id, message) VALUES ($1, $2, $3, $4)"
        f" RETURNING {COMMENT_COLUMNS}",
        uuid.uuid4(),
        task_id,
        agent_id,
        message,
    )
    assert row is not None
    return row


async def list_comments(
    conn: Conn, task_id: uuid.UUID, *, limit: int = 50, offset: int = 0
) -> tuple[list[asyncpg.Record], int]:
    """A page of a task's comments, oldest first, and their total."""
    total: int = await conn.fetchval(
        "SELECT count(*) FROM task_comments WHERE task_id = $1", task_id
    )
    rows = await conn.fetch(
        f"SELECT {COMMENT_COLUMNS} FROM task_comments WHERE task_id = $1"
        " ORDER BY created_at, id LIMIT $2 OFFSET $3",
        task_id,
        limit,
        offset,
    )
    return rows, total
