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
