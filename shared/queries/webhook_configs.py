"""Reading webhook configuration for the ingress caches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.db import Conn
from shared.webhook_config import WebhookConfig

_COLUMNS = (
    "id, board_id, enabled, secret, previous_secret, previous_secret_expires_at,"
    " signature_header, signature_scheme, timestamp_tolerance_seconds, description"
)


@dataclass(frozen=True, slots=True)
class ConfigChanges:
    """Webhooks changed and deleted since a point in time, and the database time of reading."""

    read_at: datetime
    changed: list[WebhookConfig]
    deleted: list[str]


async def fetch_all_webhook_configs(conn: Conn) -> ConfigChanges:
    """Every webhook's configuration."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        read_at = await conn.fetchval("SELECT statement_timestamp()")
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM webhooks")
    return ConfigChanges(read_at, [WebhookConfig.from_row(r) for r in rows], [])


async def fetch_webhook_config_changes(conn: Conn, since: datetime) -> ConfigChanges:
    """Webhooks updated or deleted at or after `since`."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        read_at = await conn.fetchval("SELECT statement_timestamp()")
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM webhooks WHERE updated_at >= $1",
            since,
        )
        gone = await conn.fetch(
            "SELECT webhook_id FROM webhook_tombstones WHERE deleted_at >= $1", since
        )
    return ConfigChanges(
        read_at, [WebhookConfig.from_row(r) for r in rows], [str(r["webhook_id"]) for r in gone]
    )
