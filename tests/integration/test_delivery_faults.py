"""Retries and failures under real faults: PostgreSQL away, lock timeouts, poison jobs."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid

import asyncpg
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from shared.db import create_pool
from shared.jobs import Delivery
from shared.replay import replay_one
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.databases import PrivateDatabase
from tests.support.deliveries import make_delivery, work_counts
from tests.support.factories import Factory
from tests.support.operator_api import eventually
from tests.support.queueing import enqueue_all
from tests.support.workers import drain_queue
from workers.main import build_worker


def metric(name: str, **labels: str) -> float:
    """A counter's current value (0 when never incremented)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def enqueue(settings: Settings, deliveries: list[Delivery]) -> None:
    """Queue deliveries exactly as the ingress does."""
    await enqueue_all(settings, deliveries)


async def setup_board(pool: asyncpg.Pool) -> tuple[uuid.UUID, uuid.UUID]:
    """A board with a lead and a webhook."""
    factory = Factory(pool)
    board = await factory.board()
    await factory.agent(board, lead=True)
    return board, await factory.webhook(board)


async def test_postgres_outage_retries_and_loses_nothing(
    private_database: PrivateDatabase, local_token: str
) -> None:
    settings = make_settings(private_database.url, local_token, worker_max_tries=100)
    pool = await create_pool(private_database.url)
    try:
        board, hook = await setup_board(pool)
        deliveries = [make_delivery(board, hook, b'{"n": %d}' % i) for i in range(20)]
        await pool.close()
        await enqueue(settings, deliveries)
        # Due in a few seconds: the burst worker starts (and opens its pool) before they run.
        await _defer(settings, [d.payload_id for d in deliveries], 3000)
        worker = build_worker(settings, burst=True, metrics=False)
        run = asyncio.create_task(worker.main())
        try:

            async def started() -> bool:
                return "mc" in worker.ctx

            await eventually(started)
            await private_database.block()
            retried = metric("mc_worker_jobs_total", outcome="retried")
            deadline = time.monotonic() + 30
            while metric("mc_worker_jobs_total", outcome="retried") < retried + 40:
                assert time.monotonic() < deadline, "the jobs never retried"
                await asyncio.sleep(0.05)
            await private_database.unblock()
            await asyncio.wait_for(run, 60)
        finally:
            await worker.close()
        pool = await create_pool(private_database.url)
        for d in deliveries:
            assert await work_counts(pool, uuid.UUID(d.payload_id)) == (1, 1, 1)
        statuses = await pool.fetch("SELECT status, attempts FROM webhook_payloads")
        assert {r["status"] for r in statuses} == {"processed"}
        assert min(r["attempts"] for r in statuses) >= 2  # each one was retried
        processed = await pool.fetchval(
            "SELECT count(*) FROM webhook_payload_attempts WHERE outcome = 'processed'"
        )
        assert processed == 20
    finally:
        await pool.close()


async def test_after_the_last_try_a_delivery_is_failed_visible_and_replayable(
    private_database: PrivateDatabase, local_token: str
) -> None:
    settings = make_settings(private_database.url, local_token, worker_max_tries=3)
    pool = await create_pool(private_database.url)
    admin = await asyncpg.connect(private_database.url)
    try:
        board, hook = await setup_board(pool)
        # A real transient fault: writing the task waits on a lock until the statement
        # timeout cancels it (57014), on every try; the payload table itself stays writable.
        await pool.execute(
            f"ALTER DATABASE \"{private_database.name}\" SET statement_timeout = '300ms'"
        )
        await pool.expire_connections()
        lock = admin.transaction()
        await lock.start()
        await admin.execute("SET statement_timeout = 0")
        await admin.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        failed_before = metric("mc_worker_jobs_total", outcome="failed")
        persisted_before = metric("mc_deliveries_persisted_total", status="failed")
        delivery = make_delivery(board, hook)
        await enqueue(settings, [delivery])
        await drain_queue(settings)
        await lock.rollback()
        payload_id = uuid.UUID(delivery.payload_id)

        row = await pool.fetchrow("SELECT * FROM webhook_payloads WHERE id = $1", payload_id)
        assert row is not None
        assert (row["status"], row["attempts"]) == ("failed", 3)
        assert "QueryCanceledError" in row["last_error"]
        assert await work_counts(pool, payload_id) == (1, 0, 0)
        assert metric("mc_worker_jobs_total", outcome="failed") == failed_before + 1
        assert metric("mc_deliveries_persisted_total", status="failed") == persisted_before + 1
        history = await pool.fetch(
            "SELECT attempt, outcome FROM webhook_payload_attempts WHERE payload_id = $1"
            " ORDER BY id",
            payload_id,
        )
        assert [(h["attempt"], h["outcome"]) for h in history] == [
            (1, "retry"),
            (2, "retry"),
            (3, "failed"),
        ]

        redis = Redis.from_url(settings.rq_redis_url)
        try:
            await replay_one(redis, settings.queue_name, payload_id)
        finally:
            await redis.aclose()
        await drain_queue(settings)
        row = await pool.fetchrow("SELECT * FROM webhook_payloads WHERE id = $1", payload_id)
        assert row is not None
        assert (row["status"], row["attempts"]) == ("processed", 4)
        assert await work_counts(pool, payload_id) == (1, 1, 1)
    finally:
        await admin.close()
        await pool.close()


async def test_poison_deliveries_fail_at_once_and_alone(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    other_board = await factory.board()
    good = [make_delivery(board, hook, b'{"n": %d}' % i) for i in range(10)]
    base = make_delivery(board, hook)
    # A header name PostgreSQL cannot hold: processing fails, the failed record is cleaned.
    nul_header = dataclasses.replace(base, headers={"x-bad\x00name": "v"})
    # A job naming a board that is not its webhook's: the database refuses it outright.
    wrong_board = dataclasses.replace(make_delivery(board, hook), board_id=str(other_board))
    dropped = metric("mc_worker_jobs_total", outcome="dropped")
    await enqueue(settings, [*good[:5], nul_header, wrong_board, *good[5:]])
    await drain_queue(settings)

    for d in good:
        assert await work_counts(db, uuid.UUID(d.payload_id)) == (1, 1, 1)
    poisoned = await db.fetchrow(
        "SELECT status, attempts, last_error, headers FROM webhook_payloads WHERE id = $1",
        uuid.UUID(nul_header.payload_id),
    )
    assert poisoned is not None
    assert (poisoned["status"], poisoned["attempts"]) == ("failed", 1)  # not retried
    assert poisoned["last_error"]
    assert poisoned["headers"] == {"x-bad\ufffdname": "v"}
    assert await work_counts(db, uuid.UUID(wrong_board.payload_id)) == (0, 0, 0)
    assert metric("mc_worker_jobs_total", outcome="dropped") == dropped + 1


async def _defer(settings: Settings, job_ids: list[str], delay_ms: int) -> None:
    redis = Redis.from_url(settings.rq_redis_url)
    try:
        due = int(time.time() * 1000) + delay_ms
        await redis.zadd(settings.queue_name, dict.fromkeys(job_ids, due), xx=True)
    finally:
        await redis.aclose()
