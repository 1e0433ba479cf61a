"""Webhooks as operators manage them."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Conn

WEBHOOK_COLUMNS = (
    "id, board_id, agent_id, description, enabled, secret IS NOT NULL AS has_secret,"
    " signature_header, signature_scheme, timestamp_tolerance_seconds, created_at, updated_at"
)


async def create_webhook(
    conn: Conn,
    *,
    board_id: uuid.UUID,
    description: str = "",
    enabled: bool = True,
    agent_id: uuid.UUID | None = None,
    secret: str | None = None,
    signature_header: str | None = None,
    signature_scheme: str = "hmac-sha256",
    timestamp_tolerance_seconds: int = 300,
) -> asyncpg.Record:
    """Insert a webhook; the returned row says `has_secret`, never the secret."""
    row = await conn.fetchrow(
        "INSERT INTO webhooks (id, board_id, agent_id, description, enabled, secret,"
        " signature_header, signature_scheme, timestamp_tolerance_seconds)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {WEBHOOK_COLUMNS}",
        uuid.uuid4(),
        board_id,
        agent_id,
        description,
        enabled,
        secret or None,
        signature_header or None,
        signature_scheme,
        timestamp_tolerance_seconds,
    )
    assert row is not None
    return row


def endpoint_path(board_id: uuid.UUID | str, webhook_id: uuid.UUID | str) -> str:
    """The ingest path of a webhook."""
    return f"/api/v1/boards/{board_id}/webhooks/{webhook_id}"


def endpoint_url(
    base_url: str | None, board_id: uuid.UUID | str, webhook_id: uuid.UUID | str
) -> str | None:
    """The absolute ingest URL, when BASE_URL is set."""
    return f"{base_url}{endpoint_path(board_id, webhook_id)}" if base_url else None


# What operators read: WEBHOOK_COLUMNS plus the end of a rotated secret's grace period, if one
# is running. Never a secret.
OPERATOR_WEBHOOK_COLUMNS = (
    f"{WEBHOOK_COLUMNS}, CASE WHEN previous_secret IS NOT NULL"
    " AND previous_secret_expires_at > now() THEN previous_secret_expires_at END"
    " AS previous_secret_expires_at"
)

# Columns an operator may change; update functions interpolate only names from this set.
WEBHOOK_UPDATABLE = frozenset(
    {
        "description",
        "enabled",
        "agent_id",
        "secret",
        "signature_header",
        "signature_scheme",
        "timestamp_tolerance_seconds",
    }
)


async def get_webhook(
    conn: Conn, board_id: uuid.UUID, webhook_id: uuid.UUID
) -> asyncpg.Record | None:
    """The board's webhook, or None."""
    return await conn.fetchrow(
        f"SELECT {OPERATOR_WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND board_id = $2",
        webhook_id,
        board_id,
    )


async def webhook_on_board(conn: Conn, board_id: uuid.UUID, webhook_id: uuid.UUID) -> bool:
    """Whether the webhook exists and belongs to this board."""
    found = await conn.fetchval(
        "SELECT 1 FROM webhooks WHERE id = $1 AND board_id = $2", webhook_id, board_id
    )
    return found is not None


async def list_webhooks(
    conn: Conn, board_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """A page of the board's webhooks, oldest first, and their total count."""
    rows = await conn.fetch(
        f"SELECT {OPERATOR_WEBHOOK_COLUMNS} FROM webhooks WHERE board_id = $1"
        " ORDER BY created_at, id LIMIT $2 OFFSET $3",
        board_id,
        limit,
        offset,
    )
    total = await conn.fetchval("SELECT count(*) FROM webhooks WHERE board_id = $1", board_id)
    return list(rows), int(total)


async def update_webhook(
    conn: Conn, board_id: uuid.UUID, webhook_id: uuid.UUID, changes: dict[str, object]
) -> asyncpg.Record | None:
    """Apply `changes` (columns of WEBHOOK_UPDATABLE); None if the board has no such webhook.

    A secret set here (or cleared with None/"") replaces the old one at once and ends any
    grace period; `rotate_webhook_secret` is the way to keep the old one for a while.
    """
    unknown = set(changes) - WEBHOOK_UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if not changes:
        return await get_webhook(conn, board_id, webhook_id)
    values = dict(changes)
    if "secret" in values:
        values["secret"] = values["secret"] or None
    names = sorted(values)
    assignments = [f"{name} = ${i}" for i, name in enumerate(names, start=3)]
    if "secret" in values:
        assignments += ["previous_secret = NULL", "previous_secret_expires_at = NULL"]
    # The webhooks_touch trigger moves updated_at, which is how every ingress sees the change.
    return await conn.fetchrow(
        f"UPDATE webhooks SET {', '.join(assignments)} WHERE id = $1 AND board_id = $2"
        f" RETURNING {OPERATOR_WEBHOOK_COLUMNS}",
        webhook_id,
        board_id,
        *(values[name] for name in names),
    )


async def rotate_webhook_secret(
    conn: Conn, board_id: uuid.UUID, webhook_id: uuid.UUID, secret: str, grace_seconds: int
) -> asyncpg.Record | None:
    """Make `secret` current, keeping the old one valid for `grace_seconds`; None if unknown."""
    # On the right of SET, `secret` is still the old value.
    return await conn.fetchrow(
        "UPDATE webhooks SET"
        " previous_secret = CASE WHEN $4::integer > 0 THEN secret END,"
        " previous_secret_expires_at = CASE WHEN $4::integer > 0 AND secret IS NOT NULL"
        "   THEN now() + make_interval(secs => $4::integer) END,"
        " secret = $3"
        f" WHERE id = $1 AND board_id = $2 RETURNING {OPERATOR_WEBHOOK_COLUMNS}",
        webhook_id,
        board_id,
        secret,
        grace_seconds,
    )


async def delete_webhook(conn: Conn, board_id: uuid.UUID, webhook_id: uuid.UUID) -> bool:
    """Delete the board's webhook (its tombstone tells the ingress caches); False if unknown."""
    status = await conn.execute(
        "DELETE FROM webhooks WHERE id = $1 AND board_id = $2", webhook_id, board_id
    )
    return bool(status == "DELETE 1")


async def get_webhook_secret(conn: Conn, webhook_id: uuid.UUID) -> str | None:
    """The current secret, for server-side checks only: never put it in an answer."""
    secret: str | None = await conn.fetchval(
        "SELECT secret FROM webhooks WHERE id = $1", webhook_id
    )
    return secret
