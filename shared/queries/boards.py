"""Boards."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Conn

BOARD_COLUMNS = "id, name, description, created_at, updated_at"


async def create_board(conn: Conn, name: str, description: str = "") -> asyncpg.Record:
    """Insert a board and return it."""
    row = await conn.fetchrow(
        f"INSERT INTO boards (id, name, description) VALUES ($1, $2, $3) RETURNING {BOARD_COLUMNS}",
        uuid.uuid4(),
        name,
        description,
    )
    assert row is not None
    return row
