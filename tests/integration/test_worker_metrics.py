"""Worker metrics move with the jobs: outcomes, duration, tries, stored deliveries, lag, queue."""

from __future__ import annotations

import asyncpg
from prometheus_client import REGISTRY, generate_latest
from redis.asyncio import Redis

from shared.db import create_pool
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.databases import PrivateDatabase
from tests.support.factories import Factory
from tests.support.metrics import Samples, deltas, parse_samples, value
from tests.support.queueing import enqueue_deliveries
from tests.support.workers import drain_queue
from workers.queue_stats import QueueStatsReporter

HISTOGRAMS = (
    "mc_worker_job_duration_seconds",
    "mc_worker_job_tries",
    "mc_delivery_lag_seconds",
)


def snapshot() -> Samples:
    """This process's metrics, as a worker's /metrics would show them."""
    return parse_samples(generate_latest(REGISTRY).decode())


def grown(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_processed_jobs_move_every_worker_metric(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    await enqueue_deliveries(settings, board, hook, 3)
    before = snapshot()
    await drain_queue(settings)
    after = snapshot()

    assert await db.fetchval("SELECT count(*) FROM webhook_payloads") == 3
    assert deltas(before, after, "mc_worker_jobs_total", "outcome") == {"processed": 3}
    assert deltas(before, after, "mc_deliveries_persisted_total", "status") == {"processed": 3}
    for histogram in HISTOGRAMS:
        assert grown(before, after, f"{histogram}_count") == 3, histogram
    assert grown(before, after, "mc_worker_job_tries_sum") == 3  # each on its first try
    # Lag is accepted → stored: positive, and (generously) not absurd.
    assert 0 < grown(before, after, "mc_delivery_lag_seconds_sum") < 3 * 600
    assert grown(before, after, "mc_worker_batch_size_count") >= 1


async def test_retries_and_failures_are_counted(
    private_database: PrivateDatabase, local_token: str
) -> None:
    settings = make_settings(private_database.url, local_token)
    pool = await create_pool(private_database.url, min_size=1, max_size=2)
    try:
        factory = Factory(pool)
        board = await factory.board()
        await factory.agent(board, lead=True)
        hook = await factory.webhook(board)
        # The first write of board memory fails as a serialization failure would (transient,
        # retried); later ones pass. A sequence is not rolled back with the failed transaction.
        await pool.execute(
            """
            CREATE SEQUENCE metric_test_writes;
            CREATE FUNCTION metric_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('metric_test_writes') = 1 THEN
                    RAISE EXCEPTION 'injected' USING ERRCODE = '40001';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER metric_test_fail BEFORE INSERT ON board_memory
                FOR EACH ROW EXECUTE FUNCTION metric_test_fail();
            """
        )
        await enqueue_deliveries(settings, board, hook, 1)
        before = snapshot()
        await drain_queue(settings)
        middle = snapshot()

        assert deltas(before, middle, "mc_worker_jobs_total", "outcome") == {
            "retried": 1,
            "processed": 1,
        }
        assert grown(before, middle, "mc_worker_job_tries_count") == 1
        assert grown(before, middle, "mc_worker_job_tries_sum") == 2  # finished on try 2
        assert grown(before, middle, "mc_worker_job_duration_seconds_count") == 2  # both runs
        assert grown(before, middle, "mc_delivery_lag_seconds_count") == 1

        # Now every write fails permanently: the delivery is kept as failed, not retried.
        await pool.execute(
            "CREATE OR REPLACE FUNCTION metric_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'injected permanent'; END $$"
        )
        await enqueue_deliveries(settings, board, hook, 1)
        await drain_queue(settings)
        after = snapshot()

        assert deltas(middle, after, "mc_worker_jobs_total", "outcome") == {"failed": 1}
        assert deltas(middle, after, "mc_deliveries_persisted_total", "status") == {"failed": 1}
        assert grown(middle, after, "mc_delivery_lag_seconds_count") == 0
        assert (
            await pool.fetchval("SELECT count(*) FROM webhook_payloads WHERE status = 'failed'")
            == 1
        )
    finally:
        await pool.close()


async def test_queue_depth_and_oldest_age_follow_the_queue(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    await enqueue_deliveries(settings, board, hook, 4)
    redis = Redis.from_url(settings.rq_redis_url)
    try:
        reporter = QueueStatsReporter(redis, settings.queue_name)
        await reporter.sample()
        waiting = snapshot()
        await drain_queue(settings)
        await reporter.sample()
        drained = snapshot()
    finally:
        await redis.aclose()

    assert value(waiting, "mc_queue_depth") == 4
    assert 0 <= value(waiting, "mc_queue_oldest_job_age_seconds") < 600
    assert value(drained, "mc_queue_depth") == 0
    assert value(drained, "mc_queue_oldest_job_age_seconds") == 0
