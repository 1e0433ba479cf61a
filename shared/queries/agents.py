"""Agents and their token hashes."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Conn

AGENT_COLUMNS = "id, board_id, name, is_board_lead, status, last_seen_at, created_at, updated_at"


async def create_agent(
    conn: Conn,
    *,
    board_id: uuid.UUID,
    name: str,
    is_board_lead: bool,
    token_key_id: str,
    token_hash: str,
) -> asyncpg.Record:
    """Insert an agent with its token's key id and hash; return it (never the hash)."""
    row = await conn.fetchrow(
        "INSERT INTO agents (id, board_id, name, is_board_lead, token_key_id, token_hash)"
        f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {AGENT_COLUMNS}",
        uuid.uuid4(),
        board_id,
        name,
        is_board_lead,
        token_key_id,
        token_hash,
    )
    assert row is not None
    return row
