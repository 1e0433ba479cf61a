"""A delivery's attempt history (`webhook_payload_attempts`): every try and every replay."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg

from shared.db import Conn

AttemptKind = Literal["delivery", "replay"]
AttemptOutcome = Literal["processed", "failed", "retry"]
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a delivery and how it ended."""

    payload_id: uuid.UUID
    attempt: int
    kind: AttemptKind
    outcome: AttemptOutcome
    error: str | None = None


def error_text(error: str | None) -> str | None:
    """An error message PostgreSQL text can hold, bounded in length."""
    return None if error is None else error.replace("\x00", "\ufffd")[:MAX_ERROR_CHARS]


async def record_attempts(conn: Conn, attempts: list[Attempt]) -> None:
    """Append attempts to their deliveries' histories."""
    if not attempts:
        return
    await conn.execute(
        """
        INSERT INTO webhook_payload_attempts (payload_id, attempt, kind, outcome, error)
        SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[])
        """,
        [a.payload_id for a in attempts],
        [a.attempt for a in attempts],
        [a.kind for a in attempts],
        [a.outcome for a in attempts],
        [error_text(a.error) for a in attempts],
    )


async def list_attempts(conn: Conn, payload_id: uuid.UUID) -> list[asyncpg.Record]:
    """A delivery's attempts, oldest first."""
    return list(
        await conn.fetch(
            "SELECT attempt, kind, outcome, error, at FROM webhook_payload_attempts"
            " WHERE payload_id = $1 ORDER BY id",
            payload_id,
        )
    )
