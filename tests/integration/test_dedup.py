"""Dedup of a sender's delivery id: per webhook, across ingress processes, and after the window."""

from __future__ import annotations

import asyncio
import secrets
import uuid

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from ingress.app import create_app
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.deliveries import work_counts
from tests.support.factories import Factory
from tests.support.http import Client, ingest_path
from tests.support.operator_api import eventually
from tests.support.servers import PrivateRedis
from tests.support.workers import drain_queue

ID_HEADERS = ("X-GitHub-Delivery", "webhook-id", "Idempotency-Key", "X-Shopify-Webhook-Id")


async def post(
    client: Client, board: uuid.UUID, hook: uuid.UUID, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    """One unsigned delivery; (status, body)."""
    response = await client.post(ingest_path(board, hook), data=b'{"a": 1}', headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize("header", ID_HEADERS)
async def test_a_repeat_answers_the_first_payload_id_and_is_processed_once(
    client: Client, factory: Factory, db: asyncpg.Pool, settings: Settings, header: str
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    sender_id = secrets.token_hex(8)
    first = await post(client, board, hook, {header: sender_id})
    repeat = await post(client, board, hook, {header: sender_id})
    assert first[0] == 202
    assert "duplicate" not in first[1]
    assert repeat[0] == 200
    assert repeat[1] == {**first[1], "duplicate": True}
    await drain_queue(settings)
    assert await db.fetchval("SELECT count(*) FROM webhook_payloads") == 1
    assert await work_counts(db, uuid.UUID(str(first[1]["payload_id"]))) == (1, 1, 1)


async def test_the_first_delivery_id_header_in_contract_order_wins(
    client: Client, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    shared_later = secrets.token_hex(8)
    first = await post(
        client, board, hook, {"X-GitHub-Delivery": "a", "Idempotency-Key": shared_later}
    )
    second = await post(client, board, hook, {"webhook-id": "b", "Idempotency-Key": shared_later})
    assert (first[0], second[0]) == (202, 202)  # keyed on "a" and "b", not the later header


async def test_dedup_is_per_webhook(client: Client, factory: Factory, db: asyncpg.Pool) -> None:
    board = await factory.board()
    one, two = await factory.webhook(board), await factory.webhook(board)
    sender_id = secrets.token_hex(8)
    assert (await post(client, board, one, {"X-GitHub-Delivery": sender_id}))[0] == 202
    assert (await post(client, board, two, {"X-GitHub-Delivery": sender_id}))[0] == 202


async def test_concurrent_repeats_on_two_ingress_processes_are_accepted_once(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    clients = [TestClient(TestServer(create_app(settings))) for _ in range(2)]
    for c in clients:
        await c.start_server()
    try:
        sender_id = secrets.token_hex(8)
        answers = await asyncio.gather(
            *(
                post(clients[i % 2], board, hook, {"X-GitHub-Delivery": sender_id})
                for i in range(20)
            )
        )
    finally:
        for c in clients:
            await c.close()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 19 + [202]
    assert len({body["payload_id"] for _, body in answers}) == 1


async def test_after_the_window_a_repeat_is_stored_at_most_once_and_never_a_second_task(
    database_url: str, local_token: str, factory: Factory, db: asyncpg.Pool
) -> None:
    settings = make_settings(database_url, local_token, webhook_dedup_ttl_seconds=1)
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        sender_id = secrets.token_hex(8)
        first = await post(client, board, hook, {"X-GitHub-Delivery": sender_id})
        redis_key = f"{settings.redis_namespace}:dedup:{hook}:{sender_id}"
        redis = Redis.from_url(settings.rq_redis_url)
        try:

            async def expired() -> bool:  # on Redis's clock, not ours
                return not await redis.exists(redis_key)

            await eventually(expired)
        finally:
            await redis.aclose()
        later = await post(client, board, hook, {"X-GitHub-Delivery": sender_id})
    finally:
        await client.close()
    assert (first[0], later[0]) == (202, 202)
    assert first[1]["payload_id"] != later[1]["payload_id"]
    await drain_queue(settings)
    assert await db.fetchval("SELECT count(*) FROM webhook_payloads") == 1
    assert await db.fetchval("SELECT count(*) FROM tasks") == 1
    assert await db.fetchval("SELECT count(*) FROM board_memory") == 1


async def test_a_503_leaves_no_claim_behind(
    database_url: str,
    local_token: str,
    factory: Factory,
    db: asyncpg.Pool,
    private_redis: PrivateRedis,
) -> None:
    settings = make_settings(
        database_url, local_token, rq_redis_url=private_redis.url, redis_timeout_seconds=0.5
    )
    board = await factory.board()
    hook = await factory.webhook(board)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        sender_id = secrets.token_hex(8)
        private_redis.stop()
        down = await post(client, board, hook, {"X-GitHub-Delivery": sender_id})
        private_redis.start()
        retried = await post(client, board, hook, {"X-GitHub-Delivery": sender_id})
        again = await post(client, board, hook, {"X-GitHub-Delivery": sender_id})
    finally:
        await client.close()
    assert down[0] == 503
    assert retried[0] == 202
    assert "duplicate" not in retried[1]
    assert again == (200, {**retried[1], "duplicate": True})
