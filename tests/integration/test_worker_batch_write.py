"""One statement writes a whole batch: each row still gets its own board's agent, once."""

from __future__ import annotations

import time
import uuid

import asyncpg
import pytest
from redis.asyncio import Redis

from shared.jobs import JOB_KEY_PREFIX, delivery_job_bytes
from shared.queries.deliveries import persist_processed
from shared.settings import Settings
from tests.integration.test_delivery_faults import enqueue
from tests.support.deliveries import make_delivery, store, work_counts
from tests.support.factories import Factory
from tests.support.operator_api import eventually
from tests.support.workers import drain_queue
from workers.deliveries import build_row


async def _assignee(db: asyncpg.Pool, payload_id: str) -> uuid.UUID | None:
    task = await db.fetchrow(
        "SELECT assigned_agent_id FROM tasks WHERE payload_id = $1", uuid.UUID(payload_id)
    )
    assert task is not None
    value: uuid.UUID | None = task["assigned_agent_id"]
    return value


async def test_one_batch_across_boards_gives_each_task_to_its_own_agent(
    factory: Factory, db: asyncpg.Pool, settings: Settings
) -> None:
    first = await factory.board()
    first_lead = await factory.agent(first, "lead", lead=True)
    await factory.agent(first, "later lead", lead=True)  # the first lead stays the one
    second = await factory.board()
    second_lead = await factory.agent(second, "lead", lead=True)
    triager = await factory.agent(second, "triager")
    leaderless = await factory.board()
    hooks = {
        "first": await factory.webhook(first),
        "second": await factory.webhook(second),
        "own agent": await factory.webhook(second, agent_id=triager.id),
        "leaderless": await factory.webhook(leaderless),
    }
    boards = {"first": first, "second": second, "own agent": second, "leaderless": leaderless}
    deliveries = {name: make_delivery(boards[name], hook) for name, hook in hooks.items()}
    await enqueue(settings, list(deliveries.values()))
    await drain_queue(settings)

    assert await _assignee(db, deliveries["first"].payload_id) == first_lead.id
    assert await _assignee(db, deliveries["second"].payload_id) == second_lead.id
    assert await _assignee(db, deliveries["own agent"].payload_id) == triager.id
    assert await _assignee(db, deliveries["leaderless"].payload_id) is None
    for name, delivery in deliveries.items():
        memory_board = await db.fetchval(
            "SELECT board_id FROM board_memory WHERE payload_id = $1",
            uuid.UUID(delivery.payload_id),
        )
        assert memory_board == boards[name], name


async def test_a_job_run_again_fills_in_missing_work_and_records_one_attempt(
    factory: Factory, db: asyncpg.Pool, settings: Settings
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    delivery = make_delivery(board, hook)
    payload_id = uuid.UUID(delivery.payload_id)
    await enqueue(settings, [delivery])
    await drain_queue(settings)
    await db.execute("DELETE FROM tasks WHERE payload_id = $1", payload_id)
    await db.execute("DELETE FROM board_memory WHERE payload_id = $1", payload_id)

    # The same job again (arq delivers at least once): the stored row stays as it is.
    redis = Redis.from_url(settings.rq_redis_url)
    try:
        job_id = f"{payload_id}-again"
        await redis.set(JOB_KEY_PREFIX + job_id, delivery_job_bytes(delivery, 0))
        await redis.zadd(settings.queue_name, {job_id: int(time.time() * 1000)})
    finally:
        await redis.aclose()
    await drain_queue(settings)

    assert await work_counts(db, payload_id) == (1, 1, 1)
    outcomes = await db.fetch(
        "SELECT outcome FROM webhook_payload_attempts WHERE payload_id = $1", payload_id
    )
    assert [r["outcome"] for r in outcomes] == ["processed"]


async def test_failed_deliveries_get_no_work_when_written_again(
    factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    delivery = make_delivery(board, hook)
    payload_id = await store(db, delivery, failed="boom")
    async with db.acquire() as conn:
        await persist_processed(conn, [build_row(delivery, "", 2)])
    assert await work_counts(db, payload_id) == (1, 0, 0)
    assert await db.fetchval("SELECT status FROM webhook_payloads WHERE id = $1", payload_id) == (
        "failed"
    )


async def test_deleting_a_webhook_or_its_board_removes_its_deliveries(
    factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    kept, dropped = await factory.webhook(board), await factory.webhook(board)
    on_kept = await store(db, make_delivery(board, kept))
    on_dropped = await store(db, make_delivery(board, dropped))
    await db.execute("DELETE FROM webhooks WHERE id = $1", dropped)
    assert await work_counts(db, on_dropped) == (0, 0, 0)
    assert await work_counts(db, on_kept) == (1, 1, 1)
    await db.execute("DELETE FROM boards WHERE id = $1", board)
    assert await work_counts(db, on_kept) == (0, 0, 0)


async def test_a_delivery_for_an_unknown_webhook_or_another_board_is_refused(
    factory: Factory, db: asyncpg.Pool
) -> None:
    board, other = await factory.board(), await factory.board()
    hook = await factory.webhook(board)
    for delivery in (make_delivery(board, uuid.uuid4()), make_delivery(other, hook)):
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await store(db, delivery)


async def test_the_batch_statement_notifies_each_board_of_its_new_tasks(
    factory: Factory, db: asyncpg.Pool, database_url: str
) -> None:
    boards = [await factory.board("one"), await factory.board("two")]
    rows = [
        build_row(make_delivery(board, await factory.webhook(board)), "", 1)
        for board in boards
        for _ in range(3)
    ]
    received: list[str] = []
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener("task_changes", lambda *args: received.append(args[3]))
        async with db.acquire() as conn:
            await persist_processed(conn, rows)

        async def both() -> bool:
            await listener.execute("SELECT 1")  # let pending notifications in
            return len(received) >= 2

        await eventually(both)
        assert sorted(received) == sorted(str(b) for b in boards)
    finally:
        await listener.close()
