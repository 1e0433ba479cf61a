"""Agent token auth: 401s, no token fragments anywhere, the limiter, PBKDF2 off the loop."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from shared.queries.agents import rotate_agent_token
from shared.tokens import mint_token
from tests.conftest import make_settings
from tests.support.agent_auth import (
    garbage_token,
    leaked_fragments,
    metric,
    pbkdf2_runs,
    random_token,
)
from tests.support.factories import TEST_ITERATIONS, Factory

Client = TestClient[web.Request, web.Application]
HEALTHZ = "/api/v1/agent/healthz"


async def _limited_client(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, limit: str
) -> Client:
    settings = make_settings(database_url, local_token, agent_auth_rate_limit=limit)
    return await aiohttp_client(create_app(settings))


async def test_valid_token_by_either_header_identifies_the_agent(
    client: Client, factory: Factory
) -> None:
    board = await factory.board()
    agent = await factory.agent(board, lead=True)
    for headers in ({"X-Agent-Token": agent.token}, {"Authorization": f"Bearer {agent.token}"}):
        response = await client.get(HEALTHZ, headers=headers)
        assert response.status == 200
        assert await response.json() == {
            "ok": True,
            "agent_id": str(agent.id),
            "board_id": str(board),
            "is_board_lead": True,
        }


async def test_missing_wrong_garbage_and_rotated_tokens_get_401_and_never_leak(
    client: Client, factory: Factory, db: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    board = await factory.board()
    agent = await factory.agent(board)
    wrong_secret = agent.token[:-64] + random_token()[-64:]  # right key id, wrong secret
    tokens = [agent.token, wrong_secret, random_token(), garbage_token()]
    bodies: list[str] = []

    async def call(headers: dict[str, str], n: int) -> int:
        headers = {**headers, "X-Request-Id": f"leakcheck-req-{n}"}
        response = await client.get(HEALTHZ, headers=headers)
        bodies.append(await response.text())
        return response.status

    assert await call({"X-Agent-Token": agent.token}, 0) == 200
    assert await call({}, 1) == 401
    for n, token in enumerate(tokens[1:], start=2):
        assert await call({"X-Agent-Token": token}, n) == 401
        assert await call({"Authorization": f"Bearer {token}"}, n + 10) == 401
    rotated = mint_token(TEST_ITERATIONS)
    tokens.append(rotated.token)
    async with db.acquire() as conn:
        await rotate_agent_token(conn, agent.id, rotated.key_id, rotated.token_hash)
    deadline = time.monotonic() + 5
    while await call({"X-Agent-Token": agent.token}, 30) != 401:
        assert time.monotonic() < deadline, "rotated token still accepted after 5 s"
        await asyncio.sleep(0.1)
    assert await call({"X-Agent-Token": rotated.token}, 31) == 200
    assert '"detail":"Invalid or missing agent token."' in bodies[1]
    metrics = await (await client.get("/metrics")).text()
    captured = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "agent auth ok" in captured
    assert "agent auth invalid" in captured
    assert str(agent.id) in captured  # the agent is identified by id once known
    assert leaked_fragments(captured, tokens) == []
    assert leaked_fragments("\n".join(bodies), tokens) == []
    assert leaked_fragments(metrics, tokens) == []


async def test_invalid_token_answer_is_json_401(client: Client) -> None:
    response = await client.get(HEALTHZ, headers={"X-Agent-Token": random_token()})
    assert response.status == 401
    body = await response.json()
    assert set(body) == {"detail", "request_id"}


async def test_a_thousand_random_tokens_spend_at_most_the_allowance_of_pbkdf2(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, db: asyncpg.Pool
) -> None:
    # A window far longer than the test: the sliding window's previous-window weight (which
    # lets a few more through right after a window boundary) never comes into play.
    client = await _limited_client(aiohttp_client, database_url, local_token, "20/1000000")
    before = pbkdf2_runs()
    statuses: list[int] = []
    for start in range(0, 1000, 100):
        batch = [
            client.get(HEALTHZ, headers={"X-Agent-Token": random_token()})
            for _ in range(start, start + 100)
        ]
        for response in await asyncio.gather(*batch):
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
            response.release()
    assert statuses.count(401) <= 20
    assert statuses.count(429) >= 980
    assert pbkdf2_runs() - before <= 20


async def test_garbage_and_missing_tokens_count_without_hashing(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, db: asyncpg.Pool
) -> None:
    client = await _limited_client(aiohttp_client, database_url, local_token, "3/60")
    before = pbkdf2_runs()
    assert (await client.get(HEALTHZ, headers={"X-Agent-Token": garbage_token()})).status == 401
    assert (await client.get(HEALTHZ)).status == 401
    assert (await client.get(HEALTHZ, headers={"Authorization": "Bearer "})).status == 401
    assert pbkdf2_runs() == before  # malformed or absent: never hashed
    assert (await client.get(HEALTHZ)).status == 429


async def test_remembered_tokens_skip_pbkdf2_and_the_limiter(
    aiohttp_client: AiohttpClient,
    database_url: str,
    local_token: str,
    factory: Factory,
) -> None:
    client = await _limited_client(aiohttp_client, database_url, local_token, "3/60")
    agent = await factory.agent(await factory.board())
    before_runs, before_cached = pbkdf2_runs(), metric("mc_agent_auth_total", outcome="cached")
    for _ in range(50):  # steady polling from one address
        response = await client.get(HEALTHZ, headers={"X-Agent-Token": agent.token})
        assert response.status == 200
    assert pbkdf2_runs() - before_runs == 1
    assert metric("mc_agent_auth_total", outcome="cached") - before_cached == 49
    # Only the first verification counted: two more attempts pass the limiter, the third not.
    assert (await client.get(HEALTHZ, headers={"X-Agent-Token": random_token()})).status == 401
    assert (await client.get(HEALTHZ, headers={"X-Agent-Token": random_token()})).status == 401
    limited = await client.get(HEALTHZ, headers={"X-Agent-Token": random_token()})
    assert limited.status == 429
    assert "Retry-After" in limited.headers


async def test_pbkdf2_at_real_cost_does_not_stall_the_loop(client: Client) -> None:
    lag = 0.0

    async def watch() -> None:
        nonlocal lag
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lag = max(lag, time.perf_counter() - started - 0.01)

    before = pbkdf2_runs()
    watcher = asyncio.create_task(watch())
    # Unknown key ids: each spends one PBKDF2 run at the default (production) cost.
    verifications = [
        asyncio.ensure_future(client.get(HEALTHZ, headers={"X-Agent-Token": random_token()}))
        for _ in range(50)
    ]
    await asyncio.sleep(0.05)
    health = await client.get("/healthz")
    still_verifying = sum(not v.done() for v in verifications)
    responses = await asyncio.gather(*verifications)
    watcher.cancel()
    assert health.status == 200
    assert still_verifying > 0  # /healthz was answered while verifications were running
    assert all(r.status == 401 for r in responses)
    assert pbkdf2_runs() - before == 50
    assert lag < 0.5


async def test_success_marks_the_agent_online_off_the_request_path(
    aiohttp_client: AiohttpClient,
    database_url: str,
    local_token: str,
    factory: Factory,
    db: asyncpg.Pool,
) -> None:
    settings = make_settings(database_url, local_token, agent_last_seen_interval_seconds=30)
    client = await aiohttp_client(create_app(settings))
    agent = await factory.agent(await factory.board())
    assert (
        await client.post("/api/v1/agent/heartbeat", headers={"X-Agent-Token": agent.token})
    ).status == 200
    row = await _wait_for_seen(db, agent.id)
    assert row["status"] == "online"
    first_seen = row["last_seen_at"]
    assert (await client.get(HEALTHZ, headers={"X-Agent-Token": agent.token})).status == 200
    await asyncio.sleep(1.5)  # > one flush period: a second write would have happened by now
    again = await db.fetchrow("SELECT last_seen_at FROM agents WHERE id = $1", agent.id)
    assert again is not None
    assert again["last_seen_at"] == first_seen  # at most one write per 30 s


async def _wait_for_seen(db: asyncpg.Pool, agent_id: uuid.UUID) -> asyncpg.Record:
    deadline = time.monotonic() + 5
    while True:
        row = await db.fetchrow("SELECT status, last_seen_at FROM agents WHERE id = $1", agent_id)
        assert row is not None
        if row["last_seen_at"] is not None:
            return row
        assert time.monotonic() < deadline, "last_seen_at never written"
        await asyncio.sleep(0.05)
