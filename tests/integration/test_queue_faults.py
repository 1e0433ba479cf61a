"""Redis outages: 503 with Retry-After (quickly, never a hang), never a 202 that is lost."""

from __future__ import annotations

import time
import uuid

import asyncpg
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from tests.conftest import make_settings
from tests.support.databases import PrivateDatabase
from tests.support.factories import Factory
from tests.support.http import ingest_path
from tests.support.servers import PrivateRedis
from tests.support.workers import drain_queue


async def test_redis_down_is_503_and_every_202_survives(
    aiohttp_client: AiohttpClient,
    factory: Factory,
    db: asyncpg.Pool,
    database_url: str,
    local_token: str,
    private_redis: PrivateRedis,
) -> None:
    settings = make_settings(
        database_url, local_token, rq_redis_url=private_redis.url, redis_timeout_seconds=1.0
    )
    board = await factory.board()
    hook = await factory.webhook(board)
    client = await aiohttp_client(create_app(settings))
    path = ingest_path(board, hook)
    accepted: list[str] = []

    async def send(n: int) -> list[int]:
        statuses = []
        for i in range(n):
            response = await client.post(path, json={"i": i})
            statuses.append(response.status)
            if response.status == 202:
                accepted.append((await response.json())["payload_id"])
            elif response.status == 503:
                assert int(response.headers["Retry-After"]) > 0
                assert (await response.json())["detail"]
        return statuses

    assert set(await send(10)) == {202}
    private_redis.kill()
    started = time.monotonic()
    assert set(await send(5)) == {503}
    assert time.monotonic() - started < 30  # refused, not hung (generous bound)
    private_redis.start()  # same data folder: the append-only file brings the queue back
    assert set(await send(10)) == {202}

    await drain_queue(settings)
    stored = {
        str(r["id"])
        for r in await db.fetch("SELECT id FROM webhook_payloads WHERE webhook_id = $1", hook)
    }
    assert len(accepted) == 20
    assert stored == set(accepted)


async def test_readyz_names_redis_when_it_is_down(
    aiohttp_client: AiohttpClient,
    database_url: str,
    local_token: str,
    private_redis: PrivateRedis,
    db: asyncpg.Pool,
) -> None:
    settings = make_settings(
        database_url, local_token, rq_redis_url=private_redis.url, redis_timeout_seconds=0.5
    )
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/readyz")).status == 200
    private_redis.kill()
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["checks"] == {"postgres": "ok", "redis": "down"}
    assert "redis" in body["detail"]


async def test_readyz_names_postgres_when_it_is_down(
    private_database: PrivateDatabase, aiohttp_client: AiohttpClient, local_token: str
) -> None:
    database = private_database
    settings = make_settings(database.url, local_token)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/readyz")).status == 200
    await database.block()
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        assert (await response.json())["checks"] == {"postgres": "down", "redis": "ok"}
        # Ingest does not need PostgreSQL: cached webhooks still take deliveries.
        assert (await client.get("/healthz")).status == 200
    finally:
        await database.unblock()


async def test_ingest_keeps_working_while_postgres_is_down(
    private_database: PrivateDatabase, aiohttp_client: AiohttpClient, local_token: str
) -> None:
    from shared.db import create_pool
    from tests.support.factories import Factory as RowFactory

    database = private_database
    pool = await create_pool(database.url)
    try:
        rows = RowFactory(pool)
        board = await rows.board()
        hook = await rows.webhook(board)
    finally:
        await pool.close()
    settings = make_settings(database.url, local_token)
    client = await aiohttp_client(create_app(settings))
    await database.block()
    try:
        response = await client.post(ingest_path(board, hook), json={"during": "outage"})
        assert response.status == 202
        unknown = await client.post(ingest_path(board, uuid.uuid4()), json={})
        assert unknown.status in (404, 503)
    finally:
        await database.unblock()
