"""Stored deliveries: the JSON shape and the list filter."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.payloads import decode_payload
from shared.schemas.common import id_text

DELIVERY_STATUSES: frozenset[str] = frozenset({"processed", "failed"})


def delivery_json(row: asyncpg.Record) -> dict[str, Any]:
    """A delivery as the API shows it; `payload` is decoded from the raw body, never lost."""
    return {
        "id": id_text(row["id"]),
        "board_id": id_text(row["board_id"]),
        "webhook_id": id_text(row["webhook_id"]),
        "payload": decode_payload(bytes(row["raw_body"]), row["content_type"]),
        "headers": row["headers"],
        "source_ip": row["source_ip"],
        "content_type": row["content_type"],
        "received_at": row["received_at"],
        "status": row["status"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "processed_at": row["processed_at"],
    }


def attempt_json(row: asyncpg.Record) -> dict[str, Any]:
    """One entry of a delivery's attempt history."""
    return {
        "attempt": row["attempt"],
        "kind": row["kind"],
        "outcome": row["outcome"],
        "error": row["error"],
        "at": row["at"],
    }
