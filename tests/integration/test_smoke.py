"""First light: a signed webhook reaches PostgreSQL through Redis and a worker."""

from __future__ import annotations

import hashlib
import hmac

import asyncpg
from aiohttp.test_utils import TestClient

from shared.settings import Settings
from tests.support.factories import Factory
from tests.support.workers import drain_queue


async def test_signed_delivery_becomes_payload_memory_and_task(
    client: TestClient,
    factory: Factory,
    db: asyncpg.Pool,
    settings: Settings,  # type: ignore[type-arg]
) -> None:
    board = await factory.board()
    lead = await factory.agent(board, lead=True)
    webhook = await factory.webhook(board, secret="s3cret", description="GitHub")
    body = b'{"action": "opened"}'
    signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    response = await client.post(
        f"/api/v1/boards/{board}/webhooks/{webhook}",
        data=body,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )
    assert response.status == 202, await response.text()
    answer = await response.json()
    await drain_queue(settings)
    row = await db.fetchrow("SELECT * FROM webhook_payloads WHERE id = $1", answer["payload_id"])
    assert row is not None
    assert row["status"] == "processed"
    assert row["payload"] == {"action": "opened"}
    task = await db.fetchrow("SELECT * FROM tasks WHERE payload_id = $1", row["id"])
    assert task["status"] == "inbox"
    assert task["assigned_agent_id"] == lead.id
    assert (
        await db.fetchval("SELECT count(*) FROM board_memory WHERE payload_id = $1", row["id"]) == 1
    )
