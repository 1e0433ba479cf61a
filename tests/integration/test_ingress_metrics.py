"""Every ingress metric moves when the thing it counts happens, read back from /metrics."""

from __future__ import annotations

import asyncio
import io
import time
import uuid

import asyncpg
from prometheus_client import REGISTRY
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from shared.metrics import CONFIG_CACHE_AGE
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.agent_auth import garbage_token, random_token
from tests.support.factories import Factory
from tests.support.http import Client, ingest_path
from tests.support.metrics import deltas, scrape, value
from tests.support.servers import PrivateRedis

AGENT_HEALTHZ = "/api/v1/agent/healthz"
INGEST_ROUTE = "/api/v1/boards/{board_id}/webhooks/{webhook_id}"


async def test_each_ingest_outcome_is_counted_once(
    client: Client, factory: Factory, settings: Settings
) -> None:
    limit = settings.webhook_max_payload_bytes
    board = await factory.board()
    open_hook = await factory.webhook(board)
    disabled = await factory.webhook(board, enabled=False)
    signed = await factory.webhook(board, secret=uuid.uuid4().hex)
    before = await scrape(client)

    statuses = [
        (await client.post(ingest_path(board, open_hook), json={"n": 1})).status,
        (
            await client.post(
                ingest_path(board, open_hook), json={}, headers={"X-GitHub-Delivery": "d-1"}
            )
        ).status,
        (
            await client.post(
                ingest_path(board, open_hook), json={}, headers={"X-GitHub-Delivery": "d-1"}
            )
        ).status,
        (await client.post(ingest_path(board, uuid.uuid4()), json={})).status,
        (await client.post(ingest_path(board, disabled), json={})).status,
        (
            await client.post(ingest_path(board, open_hook), data=io.BytesIO(b"x" * (limit + 1)))
        ).status,
        (await client.post(ingest_path(board, signed), json={})).status,
    ]
    after = await scrape(client)

    assert statuses == [202, 202, 200, 404, 410, 413, 403]
    assert deltas(before, after, "mc_ingest_outcomes_total", "outcome") == {
        "accepted": 2,
        "duplicate": 1,
        "not_found": 1,
        "disabled": 1,
        "too_large": 1,
        "bad_signature": 1,
    }
    assert deltas(before, after, "mc_http_requests_total", "status") == {
        "202": 2,
        "200": 2,  # the duplicate and the first /metrics scrape
        "404": 1,
        "410": 1,
        "413": 1,
        "403": 1,
    }
    route_count = "mc_http_request_duration_seconds_count"
    grown = value(after, route_count, route=INGEST_ROUTE) - value(
        before, route_count, route=INGEST_ROUTE
    )
    assert grown == 7
    assert value(after, "mc_http_requests_total", route=INGEST_ROUTE, status="202") >= 2


async def test_webhook_rate_limit_counts_an_outcome_and_a_limiter_rejection(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, factory: Factory
) -> None:
    client = await aiohttp_client(
        create_app(make_settings(database_url, local_token, webhook_rate_limit="2/60"))
    )
    board = await factory.board()
    hook = await factory.webhook(board)
    before = await scrape(client)
    statuses = [(await client.post(ingest_path(board, hook), json={})).status for _ in range(5)]
    after = await scrape(client)

    assert statuses == [202, 202, 429, 429, 429]
    assert deltas(before, after, "mc_ingest_outcomes_total", "outcome") == {
        "accepted": 2,
        "rate_limited": 3,
    }
    assert deltas(before, after, "mc_rate_limit_rejections_total", "limiter") == {"webhook": 3}


async def test_queue_outage_counts_queue_unavailable(
    aiohttp_client: AiohttpClient,
    database_url: str,
    local_token: str,
    factory: Factory,
    private_redis: PrivateRedis,
) -> None:
    settings = make_settings(
        database_url, local_token, rq_redis_url=private_redis.url, redis_timeout_seconds=0.5
    )
    client = await aiohttp_client(create_app(settings))
    board = await factory.board()
    hook = await factory.webhook(board)
    before = await scrape(client)
    private_redis.kill()
    statuses = [(await client.post(ingest_path(board, hook), json={})).status for _ in range(2)]
    after = await scrape(client)

    assert statuses == [503, 503]
    assert deltas(before, after, "mc_ingest_outcomes_total", "outcome") == {"queue_unavailable": 2}


async def test_agent_auth_outcomes_pbkdf2_runs_and_limiter(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, factory: Factory
) -> None:
    client = await aiohttp_client(
        create_app(make_settings(database_url, local_token, agent_auth_rate_limit="4/60"))
    )
    agent = await factory.agent(await factory.board())
    before = await scrape(client)
    statuses = [
        (await client.get(AGENT_HEALTHZ, headers={"X-Agent-Token": agent.token})).status,  # ok
        (await client.get(AGENT_HEALTHZ, headers={"X-Agent-Token": agent.token})).status,  # cached
        (await client.get(AGENT_HEALTHZ)).status,  # missing
        (await client.get(AGENT_HEALTHZ, headers={"X-Agent-Token": garbage_token()})).status,
        (await client.get(AGENT_HEALTHZ, headers={"X-Agent-Token": random_token()})).status,
        (await client.get(AGENT_HEALTHZ, headers={"X-Agent-Token": random_token()})).status,
    ]
    after = await scrape(client)

    assert statuses == [200, 200, 401, 401, 401, 429]
    assert deltas(before, after, "mc_agent_auth_total", "outcome") == {
        "ok": 1,
        "cached": 1,
        "missing": 1,
        "invalid": 2,
        "rate_limited": 1,
    }
    # The valid token and the unknown key id are hashed; missing and malformed ones are not.
    pbkdf2 = "mc_agent_auth_pbkdf2_runs_total"
    assert value(after, pbkdf2) - value(before, pbkdf2) == 2
    assert deltas(before, after, "mc_rate_limit_rejections_total", "limiter") == {"agent_auth": 1}


async def test_config_cache_age_is_kept_by_the_process_itself(
    client: Client, db: asyncpg.Pool
) -> None:
    # With --processes N only one process answers a scrape; the others must have set their own
    # value already. So the refresh loop, not the /metrics handler, keeps it current.
    CONFIG_CACHE_AGE.set(-1)
    deadline = time.monotonic() + 10
    while (REGISTRY.get_sample_value("mc_webhook_config_cache_age_seconds") or -1) < 0:
        assert time.monotonic() < deadline, "the refresh loop never reported its cache age"
        await asyncio.sleep(0.05)
    samples = await scrape(client)
    age = value(samples, "mc_webhook_config_cache_age_seconds")
    assert 0 <= age < 60  # generous: refreshed every 0.2 s in tests
