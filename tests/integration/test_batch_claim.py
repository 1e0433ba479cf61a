"""Batch claiming keeps arq's rules: due jobs only, one lease per job, other jobs left to arq."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
from redis.asyncio import Redis

from shared.jobs import JOB_KEY_PREFIX, Delivery, delivery_job_bytes, replay_job_bytes
from shared.settings import Settings
from workers.batch import BatchClaimer, JobOutcome


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.rq_redis_url)
    yield client
    await client.aclose()


def _delivery_job() -> tuple[str, bytes]:
    payload_id = str(uuid.uuid4())
    delivery = Delivery(
        payload_id=payload_id,
        board_id=str(uuid.uuid4()),
        webhook_id=str(uuid.uuid4()),
        body=b"{}",
        headers={},
        source_ip="127.0.0.1",
        content_type=None,
        received_at_ms=int(time.time() * 1000),
    )
    return payload_id, delivery_job_bytes(delivery, int(time.time() * 1000))


async def _put(redis: Redis, queue: str, job_id: str, data: bytes | None, score_ms: int) -> None:
    if data is not None:
        await redis.set(JOB_KEY_PREFIX + job_id, data)
    await redis.zadd(queue, {job_id: score_ms})


async def test_claims_due_delivery_jobs_once_and_leaves_the_rest(
    redis: Redis, settings: Settings
) -> None:
    queue = settings.queue_name
    now = int(time.time() * 1000)
    due, due_data = _delivery_job()
    later, later_data = _delivery_job()
    replay_id = str(uuid.uuid4())
    expired = str(uuid.uuid4())
    await _put(redis, queue, due, due_data, now - 10)
    await _put(redis, queue, later, later_data, now + 60_000)  # deferred: not due yet
    await _put(redis, queue, replay_id, replay_job_bytes(str(uuid.uuid4()), "r", now), now - 10)
    await _put(redis, queue, expired, None, now - 10)  # its data is gone

    claimer = BatchClaimer(redis, queue, lease_seconds=30)
    claimed, others = await claimer.claim([due, later, replay_id, expired])
    assert [(c.job_id, c.tries) for c in claimed] == [(due, 1)]
    assert orjson.loads(claimed[0].data)["f"] == "process_delivery"
    assert others == [replay_id]
    assert not await redis.exists(f"arq:in-progress:{replay_id}")  # left for arq's runner
    assert await redis.zscore(queue, expired) is None  # dropped, as arq would
    assert await redis.pttl(f"arq:in-progress:{due}") > 25_000

    # Leased: a second claimer (another worker) does not get it.
    again, _ = await BatchClaimer(redis, queue, lease_seconds=30).claim([due])
    assert again == []


async def test_finish_removes_and_retry_reschedules(redis: Redis, settings: Settings) -> None:
    queue = settings.queue_name
    now = int(time.time() * 1000)
    done, done_data = _delivery_job()
    retry, retry_data = _delivery_job()
    await _put(redis, queue, done, done_data, now - 10)
    await _put(redis, queue, retry, retry_data, now - 10)
    claimer = BatchClaimer(redis, queue, lease_seconds=30)
    claimed, _ = await claimer.claim([done, retry])
    assert len(claimed) == 2

    await claimer.finish([JobOutcome(done), JobOutcome(retry, retry_in=5.0)])
    assert await redis.zscore(queue, done) is None
    assert not await redis.exists(
        JOB_KEY_PREFIX + done, f"arq:retry:{done}", f"arq:in-progress:{done}"
    )
    score = await redis.zscore(queue, retry)
    assert score is not None
    assert score >= now + 4_000
    assert await redis.exists(JOB_KEY_PREFIX + retry)
    assert not await redis.exists(f"arq:in-progress:{retry}")

    # When it is due again its try number has grown.
    await redis.zadd(queue, {retry: now - 5})
    claimed, _ = await claimer.claim([retry])
    assert [c.tries for c in claimed] == [2]


async def test_an_expired_lease_lets_another_worker_claim_the_job(
    redis: Redis, settings: Settings
) -> None:
    queue = settings.queue_name
    job_id, data = _delivery_job()
    await _put(redis, queue, job_id, data, int(time.time() * 1000) - 10)
    first, _ = await BatchClaimer(redis, queue, lease_seconds=0.2).claim([job_id])
    assert len(first) == 1
    # The first worker dies without finishing; its lease runs out.
    deadline = time.monotonic() + 5
    while await redis.exists(f"arq:in-progress:{job_id}") and time.monotonic() < deadline:
        await redis.pexpire(f"arq:in-progress:{job_id}", 1)
    second, _ = await BatchClaimer(redis, queue, lease_seconds=30).claim([job_id])
    assert [(c.job_id, c.tries) for c in second] == [(job_id, 2)]
