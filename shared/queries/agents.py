"""Agents and their token hashes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

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


@dataclass(frozen=True, slots=True)
class AgentCredentials:
    """What token auth needs of an agent row; repr hides the hash."""

    id: uuid.UUID
    board_id: uuid.UUID
    is_board_lead: bool
    token_hash: str = field(repr=False)
    auth_changed_at: datetime


@dataclass(frozen=True, slots=True)
class AuthChanges:
    """Agents whose credentials changed or that were deleted since a time, and the read time."""

    read_at: datetime
    changed: list[tuple[uuid.UUID, datetime]]
    deleted: list[uuid.UUID]


async def fetch_agent_credentials(conn: Conn, token_key_id: str) -> AgentCredentials | None:
    """The agent whose token has this key id (unique index: one row at most)."""
    row = await conn.fetchrow(
        "SELECT id, board_id, is_board_lead, token_hash, auth_changed_at"
        " FROM agents WHERE token_key_id = $1",
        token_key_id,
    )
    if row is None:
        return None
    return AgentCredentials(
        row["id"], row["board_id"], row["is_board_lead"], row["token_hash"], row["auth_changed_at"]
    )


async def fetch_database_time(conn: Conn) -> datetime:
    """The database's clock (pollers compare it with trigger-written times)."""
    value: datetime = await conn.fetchval("SELECT statement_timestamp()")
    return value


async def fetch_agent_auth_changes(conn: Conn, since: datetime) -> AuthChanges:
    """Agents whose credentials changed, and agents deleted, at or after `since`."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        read_at = await conn.fetchval("SELECT statement_timestamp()")
        changed = await conn.fetch(
            "SELECT id, auth_changed_at FROM agents WHERE auth_changed_at >= $1", since
        )
        deleted = await conn.fetch(
            "SELECT agent_id FROM agent_tombstones WHERE deleted_at >= $1", since
        )
    return AuthChanges(
        read_at,
        [(r["id"], r["auth_changed_at"]) for r in changed],
        [r["agent_id"] for r in deleted],
    )


async def mark_agents_seen(conn: Conn, agent_ids: list[uuid.UUID], seen_at: list[datetime]) -> None:
    """Set agents online with their last-seen times, in one statement."""
    await conn.execute(
        "UPDATE agents a SET status = 'online', last_seen_at = s.seen_at"
        " FROM unnest($1::uuid[], $2::timestamptz[]) AS s(id, seen_at)"
        " WHERE a.id = s.id AND (a.last_seen_at IS NULL OR a.last_seen_at < s.seen_at)",
        agent_ids,
        seen_at,
    )


async def get_agent(conn: Conn, board_id: uuid.UUID, agent_id: uuid.UUID) -> asyncpg.Record | None:
    """The agent of this board, or None (never the token hash)."""
    return await conn.fetchrow(
        f"SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1 AND board_id = $2", agent_id, board_id
    )


async def agent_on_board(conn: Conn, board_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
    """Whether the agent exists on this board; in a transaction, it stays so until commit."""
    # FOR KEY SHARE: a concurrent delete waits, so a row that references the agent cannot
    # fail its foreign key after this check said yes.
    found = await conn.fetchval(
        "SELECT 1 FROM agents WHERE id = $1 AND board_id = $2 FOR KEY SHARE", agent_id, board_id
    )
    return found is not None


async def list_agents(
    conn: Conn, board_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """A page of the board's agents, oldest first, and their total count."""
    rows = await conn.fetch(
        f"SELECT {AGENT_COLUMNS} FROM agents WHERE board_id = $1"
        " ORDER BY created_at, id LIMIT $2 OFFSET $3",
        board_id,
        limit,
        offset,
    )
    total = await conn.fetchval("SELECT count(*) FROM agents WHERE board_id = $1", board_id)
    return list(rows), int(total)


async def rotate_agent_token(
    conn: Conn, agent_id: uuid.UUID, key_id: str, token_hash: str
) -> asyncpg.Record | None:
    """Replace the agent's token key id and hash; None if the agent does not exist.

    `updated_at` moves to now(): token memories compare it to forget the old token.
    """
    return await conn.fetchrow(
        "UPDATE agents SET token_key_id = $2, token_hash = $3, updated_at = now()"
        f" WHERE id = $1 RETURNING {AGENT_COLUMNS}",
        agent_id,
        key_id,
        token_hash,
    )


async def delete_agent(conn: Conn, board_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
    """Delete the board's agent; False if there was none."""
    status = await conn.execute(
        "DELETE FROM agents WHERE id = $1 AND board_id = $2", agent_id, board_id
    )
    return bool(status == "DELETE 1")
