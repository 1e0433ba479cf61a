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


# Columns an operator may change; update functions interpolate only names from this set.
BOARD_UPDATABLE = frozenset({"name", "description"})


async def get_board(conn: Conn, board_id: uuid.UUID) -> asyncpg.Record | None:
    """The board, or None."""
    return await conn.fetchrow(f"SELECT {BOARD_COLUMNS} FROM boards WHERE id = $1", board_id)


async def board_exists(conn: Conn, board_id: uuid.UUID) -> bool:
    """Whether the board exists."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM boards WHERE id = $1)", board_id))


async def list_boards(conn: Conn, limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    """A page of boards, oldest first, and the total count."""
    rows = await conn.fetch(
        f"SELECT {BOARD_COLUMNS} FROM boards ORDER BY created_at, id LIMIT $1 OFFSET $2",
        limit,
        offset,
    )
    total = await conn.fetchval("SELECT count(*) FROM boards")
    return list(rows), int(total)


async def update_board(
    conn: Conn, board_id: uuid.UUID, changes: dict[str, object]
) -> asyncpg.Record | None:
    """Apply `changes` (columns of BOARD_UPDATABLE) and return the board, or None if unknown."""
    unknown = set(changes) - BOARD_UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if not changes:
        return await get_board(conn, board_id)
    names = sorted(changes)
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    return await conn.fetchrow(
        f"UPDATE boards SET {assignments}, updated_at = now() WHERE id = $1"
        f" RETURNING {BOARD_COLUMNS}",
        board_id,
        *(changes[name] for name in names),
    )


async def delete_board(conn: Conn, board_id: uuid.UUID) -> bool:
    """Delete the board and everything on it; False if it did not exist."""
    status = await conn.execute("DELETE FROM boards WHERE id = $1", board_id)
    return bool(status == "DELETE 1")
