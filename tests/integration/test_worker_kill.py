"""A worker SIGKILLed or SIGTERMed mid-job loses nothing: another worker processes every
delivery, once."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from shared.settings import Settings
from tests.integration.test_delivery_faults import enqueue
from tests.support.deliveries import make_delivery, work_counts
from tests.support.factories import Factory
from tests.support.operator_api import eventually
from tests.support.process_env import service_env

ROOT = Path(__file__).resolve().parents[2]
JOB_TIMEOUT = 2  # in-progress markers of a dead worker expire after this + 10 s


async def start_worker(settings: Settings, *, output: bool = False) -> asyncio.subprocess.Process:
    """`python -m cli.main worker` as a real process on the test's database and queue (its
    log on `stdout` when `output`)."""
    env = service_env(
        settings,
        WORKER_JOB_TIMEOUT_SECONDS=str(JOB_TIMEOUT),
        WORKER_MAX_TRIES="100",
        WORKER_RETRY_BASE_SECONDS="0.05",
        WORKER_RETRY_MAX_SECONDS="0.2",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "worker",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE if output else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.STDOUT if output else asyncio.subprocess.DEVNULL,
    )


async def test_a_worker_killed_mid_job_loses_nothing(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    deliveries = [make_delivery(board, hook, b'{"n": %d}' % i) for i in range(30)]
    ids = [uuid.UUID(d.payload_id) for d in deliveries]
    # Every write waits on this lock, so the first worker's jobs are all mid-flight.
    locker = await db.acquire()
    lock = locker.transaction()
    await lock.start()
    await locker.execute("LOCK TABLE webhook_payloads IN ACCESS EXCLUSIVE MODE")
    locked = True
    redis = Redis.from_url(settings.rq_redis_url)
    first = second = None
    try:
        await enqueue(settings, deliveries)
        first = await start_worker(settings)
        in_progress = [f"arq:in-progress:{d.payload_id}" for d in deliveries]

        async def mid_job() -> bool:
            return bool(await redis.exists(*in_progress))

        await eventually(mid_job, timeout=30)
        first.kill()
        await first.wait()
        await lock.rollback()
        locked = False
        assert await db.fetchval("SELECT count(*) FROM webhook_payloads") == 0

        second = await start_worker(settings)

        async def all_processed() -> bool:
            stored = await db.fetchval(
                "SELECT count(*) FROM webhook_payloads WHERE id = ANY($1::uuid[])"
                " AND status = 'processed'",
                ids,
            )
            return bool(stored == len(ids))

        # Jobs the dead worker held run again once its in-progress markers expire.
        await eventually(all_processed, timeout=JOB_TIMEOUT + 10 + 30)
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
        if locked:
            await lock.rollback()
        await db.release(locker)
        await redis.aclose()
    for payload_id in ids:
        assert await work_counts(db, payload_id) == (1, 1, 1)
    processed = await db.fetchval(
        "SELECT count(*) FROM webhook_payload_attempts WHERE outcome = 'processed'"
    )
    assert processed == len(ids)


async def test_a_worker_stopped_mid_batch_exits_cleanly_and_requeues_the_batch_at_once(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    deliveries = [make_delivery(board, hook, b'{"n": %d}' % i) for i in range(20)]
    ids = [uuid.UUID(d.payload_id) for d in deliveries]
    locker = await db.acquire()
    lock = locker.transaction()
    await lock.start()
    await locker.execute("LOCK TABLE webhook_payloads IN ACCESS EXCLUSIVE MODE")
    locked = True
    redis = Redis.from_url(settings.rq_redis_url)
    first = second = None
    try:
        await enqueue(settings, deliveries)
        first = await start_worker(settings, output=True)
        in_progress = [f"arq:in-progress:{d.payload_id}" for d in deliveries]

        async def waiting_on_the_lock() -> bool:
            waiting = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return bool(waiting) and bool(await redis.exists(*in_progress))

        await eventually(waiting_on_the_lock, timeout=30)
        first.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(first.communicate(), 30)
        log = output.decode()
        assert first.returncode == 0, log
        assert "Traceback" not in log, log
        assert "CancelledError" not in log, log
        # Back on the queue at once, due now: not left to wait for its leases to expire.
        assert await redis.exists(*in_progress) == 0
        queued = await redis.zrange(settings.queue_name, 0, -1, withscores=True)
        assert sorted(job_id.decode() for job_id, _ in queued) == sorted(map(str, ids))
        assert max(score for _, score in queued) <= time.time() * 1000
        await lock.rollback()
        locked = False

        second = await start_worker(settings)

        async def all_processed() -> bool:
            stored = await db.fetchval(
                "SELECT count(*) FROM webhook_payloads WHERE id = ANY($1::uuid[])"
                " AND status = 'processed'",
                ids,
            )
            return bool(stored == len(ids))

        # Well before a dead worker's leases would expire (JOB_TIMEOUT + 10 s).
        await eventually(all_processed, timeout=JOB_TIMEOUT + 5)
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
        assert second.returncode == 0
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
        if locked:
            await lock.rollback()
        await db.release(locker)
        await redis.aclose()
    for payload_id in ids:
        assert await work_counts(db, payload_id) == (1, 1, 1)
