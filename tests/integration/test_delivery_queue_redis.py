"""The ingest queue on a redis-server of the test's own: script fallback, restarts, outages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from ingress.delivery_queue import MAX_BATCH, DeliveryQueue, Enqueued
from shared.errors import ServiceUnavailable
from shared.jobs import JOB_KEY_PREFIX
from shared.resp import PipelinedRedis
from tests.support.servers import PrivateRedis

QUEUE = "tq:queue"
WEBHOOK = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A private redis-server that allows DEBUG SLEEP."""
    redis = PrivateRedis(
        tmp_path_factory.mktemp("redis"),
        appendonly=False,
        extra_args=("--enable-debug-command", "yes"),
    )
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
async def admin(server: PrivateRedis) -> AsyncIterator[Redis]:
    """A redis-py client on the private server for checks."""
    client = Redis(port=server.port)
    yield client
    await client.aclose()


async def command(client: Redis, *args: str | int) -> Any:
    """A raw command (redis-py leaves execute_command untyped)."""
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


def make_queue(server: PrivateRedis, timeout: float = 5) -> DeliveryQueue:
    """A queue as the ingress builds it."""
    return DeliveryQueue(
        PipelinedRedis(server.url, connect_timeout=timeout),
        queue_name=QUEUE,
        namespace="tq",
        dedup_ttl_seconds=60,
        timeout_seconds=timeout,
    )


@pytest.fixture
async def queue(server: PrivateRedis) -> AsyncIterator[DeliveryQueue]:
    """The queue under test."""
    delivery_queue = make_queue(server)
    yield delivery_queue
    await delivery_queue.close()


async def enqueue(queue: DeliveryQueue, sender_id: str | None = None) -> tuple[str, Enqueued]:
    """Enqueue one small job; its payload id and the outcome."""
    payload_id = str(uuid.uuid4())
    return payload_id, await queue.enqueue_job(
        payload_id, WEBHOOK, sender_id, b"job-" + payload_id.encode()
    )


async def assert_queued(admin: Redis, payload_id: str) -> None:
    """The job is stored and on the queue."""
    assert await admin.get(JOB_KEY_PREFIX + payload_id) == b"job-" + payload_id.encode()
    assert await admin.zscore(QUEUE, payload_id) is not None


async def script_calls(admin: Redis) -> tuple[int, int]:
    """How many EVALSHA and EVAL calls the server has run since its stats were reset."""
    stats: dict[str, Any] = await admin.info("commandstats")
    evalsha = stats.get("cmdstat_evalsha", {}).get("calls", 0)
    eval_ = stats.get("cmdstat_eval", {}).get("calls", 0)
    return int(evalsha), int(eval_)


async def test_after_script_flush_the_script_is_sent_once_then_called_by_sha_again(
    queue: DeliveryQueue, admin: Redis
) -> None:
    await admin.config_resetstat()
    first, outcome = await enqueue(queue)  # a fresh server does not know the script yet
    assert outcome == Enqueued(first, False)
    assert await script_calls(admin) == (1, 1)
    second, _ = await enqueue(queue)
    assert await script_calls(admin) == (2, 1)  # by SHA, no script text

    await admin.script_flush()
    third, outcome = await enqueue(queue)
    assert outcome == Enqueued(third, False)
    assert await script_calls(admin) == (3, 2)  # NOSCRIPT, then the script itself
    fourth, _ = await enqueue(queue)
    assert await script_calls(admin) == (4, 2)  # loaded again: back to EVALSHA
    for payload_id in (first, second, third, fourth):
        await assert_queued(admin, payload_id)


async def test_a_concurrent_batch_after_script_flush_is_fully_queued(
    queue: DeliveryQueue, admin: Redis
) -> None:
    await enqueue(queue)
    await admin.script_flush()
    results = await asyncio.gather(*(enqueue(queue) for _ in range(50)))
    for payload_id, outcome in results:
        assert outcome == Enqueued(payload_id, False)
        await assert_queued(admin, payload_id)


async def test_one_tick_of_more_than_a_batch_is_sent_in_full_batches_and_all_queued(
    queue: DeliveryQueue, admin: Redis
) -> None:
    await enqueue(queue)  # the script is loaded
    await admin.config_resetstat()
    count = 2 * MAX_BATCH + 3
    results = await asyncio.gather(*(enqueue(queue) for _ in range(count)))
    assert await script_calls(admin) == (3, 0)  # two full batches and the rest
    for payload_id, outcome in results:
        assert outcome == Enqueued(payload_id, False)
        await assert_queued(admin, payload_id)
    assert await admin.zcard(QUEUE) == count + 1


async def test_a_caller_that_gives_up_leaves_the_rest_of_its_batch_answered(
    queue: DeliveryQueue, admin: Redis
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    futures = [queue.submit(payload_id, WEBHOOK, None, b"job") for payload_id in ids]
    futures[1].cancel()  # e.g. its request was cancelled while waiting
    assert await futures[0] == b""
    assert await futures[2] == b""
    for payload_id in ids:  # the batch was sent whole: a 202 never depends on a neighbour
        assert await admin.zscore(QUEUE, payload_id) is not None


async def test_close_waits_for_the_batch_in_flight(server: PrivateRedis, admin: Redis) -> None:
    queue = make_queue(server)
    payload_id = str(uuid.uuid4())
    future = queue.submit(payload_id, WEBHOOK, None, b"job-" + payload_id.encode())
    await queue.close()  # before the batch has even been sent
    assert future.done()
    assert future.result() == b""
    await assert_queued(admin, payload_id)


async def test_a_repeated_sender_delivery_id_answers_the_first_payload(
    queue: DeliveryQueue, admin: Redis
) -> None:
    sender_id = f"gh-{uuid.uuid4()}"
    first, outcome = await enqueue(queue, sender_id)
    assert outcome == Enqueued(first, False)
    second, outcome = await enqueue(queue, sender_id)
    assert outcome == Enqueued(first, True)
    assert await admin.get(JOB_KEY_PREFIX + second) is None
    assert await admin.zcard(QUEUE) == 1


async def test_the_queue_keeps_working_after_a_redis_restart(
    server: PrivateRedis, queue: DeliveryQueue, admin: Redis
) -> None:
    await enqueue(queue)
    server.stop()
    server.start()  # its scripts are gone and the old connection is dead
    failures = 0
    for _ in range(3):
        try:
            payload_id, outcome = await enqueue(queue)
        except ServiceUnavailable:  # the dead connection may take one batch down with it
            failures += 1
            continue
        assert outcome == Enqueued(payload_id, False)
        await assert_queued(admin, payload_id)
    assert failures <= 1


async def test_when_redis_is_down_enqueue_is_503_and_never_success(
    server: PrivateRedis, queue: DeliveryQueue, admin: Redis
) -> None:
    await enqueue(queue)
    server.stop()
    async with asyncio.timeout(10):  # a hang guard, not a timing check
        for _ in range(3):
            results = await asyncio.gather(
                *(enqueue(queue) for _ in range(10)), return_exceptions=True
            )
            for result in results:
                assert isinstance(result, ServiceUnavailable), result
                assert result.status == 503
                assert result.headers["Retry-After"] == "5"
    server.start()
    payload_id, outcome = await enqueue(queue)
    assert outcome == Enqueued(payload_id, False)
    await assert_queued(admin, payload_id)


async def test_a_slow_redis_is_503_and_the_next_enqueue_gets_its_own_answer(
    server: PrivateRedis, admin: Redis
) -> None:
    queue = make_queue(server, timeout=0.1)
    sleeper = Redis(port=server.port)
    try:
        await enqueue(queue)
        await sleeper.ping()  # connected: DEBUG SLEEP is written at once
        sleeping = asyncio.ensure_future(command(sleeper, "DEBUG", "SLEEP", "0.5"))
        await asyncio.sleep(0.05)  # the server is asleep now
        with pytest.raises(ServiceUnavailable):
            await enqueue(queue)
        await sleeping
        # A late answer to the timed-out batch must not become a later enqueue's answer: the
        # second enqueue of a sender id must hear the first one's payload id.
        sender_id = f"s-{uuid.uuid4()}"
        payload_id, outcome = await enqueue(queue, sender_id)
        assert outcome == Enqueued(payload_id, False)
        _, again = await enqueue(queue, sender_id)
        assert again == Enqueued(payload_id, True)
        await assert_queued(admin, payload_id)
    finally:
        await queue.close()
        await sleeper.aclose()


async def test_a_redis_error_other_than_noscript_is_503(queue: DeliveryQueue, admin: Redis) -> None:
    await enqueue(queue)
    await admin.config_set("maxmemory-policy", "noeviction")
    await admin.config_set("maxmemory", 1)
    try:
        before = await admin.zcard(QUEUE)
        with pytest.raises(ServiceUnavailable):
            await enqueue(queue)
        assert await admin.zcard(QUEUE) == before
    finally:
        await admin.config_set("maxmemory", 0)
    payload_id, outcome = await enqueue(queue)
    assert outcome == Enqueued(payload_id, False)
