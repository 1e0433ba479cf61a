"""A worker SIGKILLed or SIGTERMed mid-job loses nothing: another worker processes every
delivery, once."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
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


@asynccontextmanager
async def payloads_locked(db: asyncpg.Pool) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Hold a lock every delivery write waits on (so a worker's jobs stay mid-flight); yields
    the call that lets the writes through. Released at the end whatever happens."""
    locker = await db.acquire()
    lock = locker.transaction()
    await lock.start()
    await locker.execute("LOCK TABLE webhook_payloads IN ACCESS EXCLUSIVE MODE")
    locked = True

    async def unlock() -> None:
        nonlocal locked
        await lock.rollback()
        locked = False

    try:
        yield unlock
    finally:
        if locked:
            await lock.rollback()
        await db.release(locker)


async def queued_deliveries(
    settings: Settings, factory: Factory, count: int
) -> tuple[list[uuid.UUID], list[str]]:
    """`count` deliveries for a board with a lead, enqueued: their ids and in-progress keys."""
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    deliveries = [make_delivery(board, hook, b'{"n": %d}' % i) for i in range(count)]
    await enqueue(settings, deliveries)
    ids = [uuid.UUID(d.payload_id) for d in deliveries]
    return ids, [f"arq:in-progress:{d.payload_id}" for d in deliveries]


def all_processed(db: asyncpg.Pool, ids: list[uuid.UUID]) -> Callable[[], Awaitable[bool]]:
    """A check for `eventually`: every one of `ids` is stored as processed."""

    async def check() -> bool:
        stored = await db.fetchval(
            "SELECT count(*) FROM webhook_payloads WHERE id = ANY($1::uuid[])"
            " AND status = 'processed'",
            ids,
        )
        return bool(stored == len(ids))

    return check


async def stop(*processes: asyncio.subprocess.Process | None) -> None:
    """Kill whatever is still running."""
    for process in processes:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_worker_killed_mid_job_loses_nothing(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    redis = Redis.from_url(settings.rq_redis_url)
    first = second = None
    try:
        async with payloads_locked(db) as unlock:
            ids, in_progress = await queued_deliveries(settings, factory, 30)
            first = await start_worker(settings)

            async def mid_job() -> bool:
                return bool(await redis.exists(*in_progress))

            await eventually(mid_job, timeout=30)
            first.kill()
            await first.wait()
            await unlock()
        assert await db.fetchval("SELECT count(*) FROM webhook_payloads") == 0

        second = await start_worker(settings)
        # Jobs the dead worker held run again once its in-progress markers expire.
        await eventually(all_processed(db, ids), timeout=JOB_TIMEOUT + 10 + 30)
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
    finally:
        await stop(first, second)
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
    redis = Redis.from_url(settings.rq_redis_url)
    first = second = None
    try:
        async with payloads_locked(db) as unlock:
            ids, in_progress = await queued_deliveries(settings, factory, 20)
            first = await start_worker(settings, output=True)

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
            await unlock()

        second = await start_worker(settings)
        # Well before a dead worker's leases would expire (JOB_TIMEOUT + 10 s).
        await eventually(all_processed(db, ids), timeout=JOB_TIMEOUT + 5)
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
        assert second.returncode == 0
    finally:
        await stop(first, second)
        await redis.aclose()
    for payload_id in ids:
        assert await work_counts(db, payload_id) == (1, 1, 1)
