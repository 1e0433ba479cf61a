"""The worker: a 202 becomes one payload row, one memory entry and one inbox task, once."""

from __future__ import annotations

import time
import uuid

import asyncpg
import orjson
from redis.asyncio import Redis

from shared.jobs import JOB_KEY_PREFIX, Delivery, delivery_job_bytes
from shared.settings import Settings
from tests.support.factories import Factory
from tests.support.http import Client, github_signature, ingest_path
from tests.support.workers import drain_queue


async def counts(db: asyncpg.Pool, payload_id: uuid.UUID) -> tuple[int, int, int]:
    """Rows for one payload: (payloads, memory entries, tasks)."""
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM webhook_payloads WHERE id = $1),
                  (SELECT count(*) FROM board_memory WHERE payload_id = $1),
                  (SELECT count(*) FROM tasks WHERE payload_id = $1)""",
        payload_id,
    )
    assert row is not None
    return (row[0], row[1], row[2])


async def test_a_delivery_becomes_payload_memory_and_inbox_task(
    client: Client, factory: Factory, db: asyncpg.Pool, settings: Settings
) -> None:
    board = await factory.board()
    lead = await factory.agent(board, "lead", lead=True)
    body = b'{"action": "opened", "number": 7}'
    hook = await factory.webhook(board, secret="s3cret", description="GitHub issues")
    response = await client.post(
        ingest_path(board, hook),
        data=body,
        headers={
            "X-Hub-Signature-256": github_signature("s3cret", body),
            "Content-Type": "application/json",
            "X-GitHub-Event": "issues",
            "User-Agent": "GitHub-Hookshot/abc",
        },
    )
    assert response.status == 202
    payload_id = uuid.UUID((await response.json())["payload_id"])
    await drain_queue(settings)

    payload = await db.fetchrow("SELECT * FROM webhook_payloads WHERE id = $1", payload_id)
    assert payload is not None
    assert payload["status"] == "processed"
    assert payload["payload"] == {"action": "opened", "number": 7}
    assert bytes(payload["raw_body"]) == body
    assert payload["headers"]["x-github-event"] == "issues"
    assert payload["content_type"] == "application/json"
    assert payload["source_ip"] == "127.0.0.1"
    assert payload["attempts"] == 1
    assert payload["processed_at"] >= payload["received_at"]

    memory = await db.fetchrow("SELECT * FROM board_memory WHERE payload_id = $1", payload_id)
    assert memory is not None
    assert memory["board_id"] == board
    assert "```external-data" in memory["content"]
    assert '"number": 7' in memory["content"]

    task = await db.fetchrow("SELECT * FROM tasks WHERE payload_id = $1", payload_id)
    assert task is not None
    assert task["status"] == "inbox"
    assert task["assigned_agent_id"] == lead.id
    assert "GitHub issues" in task["title"]


async def test_the_webhooks_own_agent_gets_the_task(
    client: Client, factory: Factory, db: asyncpg.Pool, settings: Settings
) -> None:
    board = await factory.board()
    await factory.agent(board, "lead", lead=True)
    worker_agent = await factory.agent(board, "triager")
    hook = await factory.webhook(board, agent_id=worker_agent.id)
    response = await client.post(ingest_path(board, hook), json={"x": 1})
    payload_id = uuid.UUID((await response.json())["payload_id"])
    await drain_queue(settings)
    assigned = await db.fetchval(
        "SELECT assigned_agent_id FROM tasks WHERE payload_id = $1", payload_id
    )
    assert assigned == worker_agent.id


async def test_running_the_same_job_twice_stores_everything_once(
    factory: Factory, db: asyncpg.Pool, settings: Settings
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    payload_id = uuid.uuid4()
    delivery = Delivery(
        payload_id=str(payload_id),
        board_id=str(board),
        webhook_id=str(hook),
        body=b'{"twice": true}',
        headers={},
        source_ip="203.0.113.1",
        content_type="application/json",
        received_at_ms=int(time.time() * 1000),
    )
    job = delivery_job_bytes(delivery, int(time.time() * 1000))
    redis = Redis.from_url(settings.rq_redis_url)
    try:
        # arq delivers at least once: the same job under two arq ids, and again after a drain.
        for job_id in (str(payload_id), f"{payload_id}-again"):
            await redis.set(JOB_KEY_PREFIX + job_id, job)
            await redis.zadd(settings.queue_name, {job_id: int(time.time() * 1000)})
        await drain_queue(settings)
        await redis.set(JOB_KEY_PREFIX + "third", job)
        await redis.zadd(settings.queue_name, {"third": int(time.time() * 1000)})
        await drain_queue(settings)
    finally:
        await redis.aclose()
    assert await counts(db, payload_id) == (1, 1, 1)


async def test_bodies_are_kept_whole_whatever_their_bytes(
    client: Client, factory: Factory, db: asyncpg.Pool, settings: Settings
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    cases = {
        "empty": (b"", None, {}),
        "text": (b"plain words", "text/plain", "plain words"),
        "form": (b"a=1&b=2", "application/x-www-form-urlencoded", "a=1&b=2"),
        "invalid-utf8": (b"caf\xe9", "text/plain", "caf\ufffd"),
        "nul-in-json": (b'{"a": "x\\u0000y"}', "application/json", {"a": "x\x00y"}),
        "nul-in-text": (b"a\x00b", "text/plain", "a\x00b"),
        "json-array": (b"[1, 2, 3]", None, [1, 2, 3]),
    }
    ids: dict[str, uuid.UUID] = {}
    for name, (body, content_type, _) in cases.items():
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.post(ingest_path(board, hook), data=body, headers=headers)
        assert response.status == 202, name
        ids[name] = uuid.UUID((await response.json())["payload_id"])
    await drain_queue(settings)
    for name, (body, _, expected) in cases.items():
        row = await db.fetchrow(
            "SELECT raw_body, payload, status FROM webhook_payloads WHERE id = $1", ids[name]
        )
        assert row is not None, name
        assert bytes(row["raw_body"]) == body, name
        assert row["status"] == "processed", name
        if "nul" in name:
            assert row["payload"] is None  # jsonb cannot hold NUL; raw_body is whole
        else:
            assert row["payload"] == expected, name
        assert await counts(db, ids[name]) == (1, 1, 1), name
    assert orjson.dumps(cases["nul-in-json"][2])  # the API can still render it from raw_body
