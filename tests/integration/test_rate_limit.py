"""Per-IP webhook rate limiting on both backends; the redis backend fails open with one warning."""

from __future__ import annotations

import asyncio
import ipaddress
import logging

import pytest
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from ingress.rate_limit import RedisLimiter
from shared.settings import RateLimit
from tests.conftest import make_settings
from tests.support.factories import Factory
from tests.support.http import ingest_path
from tests.support.servers import PrivateRedis


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_limit_then_429_with_retry_after_per_ip(
    aiohttp_client: AiohttpClient,
    factory: Factory,
    database_url: str,
    local_token: str,
    backend: str,
) -> None:
    settings = make_settings(
        database_url,
        local_token,
        webhook_rate_limit="3/60",
        rate_limit_backend=backend,
        trusted_proxies="127.0.0.1",
    )
    board = await factory.board()
    hook = await factory.webhook(board)
    client = await aiohttp_client(create_app(settings))
    path = ingest_path(board, hook)
    first_ip = {"X-Forwarded-For": "198.51.100.1"}
    statuses = [(await client.post(path, data=b"{}", headers=first_ip)).status for _ in range(3)]
    assert statuses == [202, 202, 202]
    refused = await client.post(path, data=b"{}", headers=first_ip)
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await refused.json())["detail"]
    other_ip = await client.post(path, data=b"{}", headers={"X-Forwarded-For": "198.51.100.2"})
    assert other_ip.status == 202


async def test_rate_limit_comes_before_the_webhook_lookup(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, factory: Factory
) -> None:
    settings = make_settings(database_url, local_token, webhook_rate_limit="1/60")
    client = await aiohttp_client(create_app(settings))
    board = await factory.board()
    assert (await client.post(ingest_path(board, board), data=b"")).status == 404
    assert (await client.post(ingest_path(board, board), data=b"")).status == 429


async def test_redis_backend_is_shared_by_processes(
    aiohttp_client: AiohttpClient, factory: Factory, database_url: str, local_token: str
) -> None:
    settings = make_settings(
        database_url, local_token, webhook_rate_limit="4/60", rate_limit_backend="redis"
    )
    board = await factory.board()
    hook = await factory.webhook(board)
    one = await aiohttp_client(create_app(settings))
    two = await aiohttp_client(create_app(settings))
    path = ingest_path(board, hook)
    responses = await asyncio.gather(*(client.post(path, data=b"{}") for client in [one, two] * 5))
    statuses = sorted(r.status for r in responses)
    assert statuses.count(202) == 4
    assert statuses.count(429) == 6


async def test_redis_backend_refuses_to_start_when_unreachable(
    database_url: str, local_token: str, private_redis: PrivateRedis
) -> None:
    from aiohttp import web

    from ingress.resources import StartupError

    url = private_redis.url
    private_redis.stop()
    settings = make_settings(
        database_url,
        local_token,
        rate_limit_backend="redis",
        rate_limit_redis_url=url,
        redis_timeout_seconds=0.5,
    )
    runner = web.AppRunner(create_app(settings))
    try:
        with pytest.raises(StartupError, match="RATE_LIMIT_REDIS_URL"):
            await runner.setup()
    finally:
        await runner.cleanup()


async def test_redis_failure_at_run_time_fails_open_with_one_warning(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.redis import connect_redis

    redis = connect_redis(private_redis.url, timeout=0.5)
    limiter = RedisLimiter(redis, RateLimit(1, 60), name="webhook", namespace="t", timeout=0.5)
    try:
        assert (await limiter.hit("1.2.3.4")).allowed
        assert not (await limiter.hit("1.2.3.4")).allowed
        private_redis.kill()
        with caplog.at_level(logging.WARNING, logger="ingress.rate_limit"):
            decisions = [await limiter.hit("1.2.3.4") for _ in range(5)]
        assert all(d.allowed for d in decisions)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "fail" in warnings[0].getMessage() or "unavailable" in warnings[0].getMessage()
    finally:
        await redis.aclose()


def test_trusted_proxy_setting_parses() -> None:
    assert ipaddress.ip_address("127.0.0.1") in ipaddress.ip_network("127.0.0.1/32")
