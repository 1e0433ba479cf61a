"""Rotating or deleting an agent ends its old token on another ingress process within 5 s."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from shared.queries.agents import rotate_agent_token
from shared.settings import Settings
from shared.tokens import mint_token
from tests.support.agent_auth import metric
from tests.support.factories import TEST_ITERATIONS, Factory

Client = TestClient[web.Request, web.Application]
HEALTHZ = "/api/v1/agent/healthz"


async def _two_processes(
    aiohttp_client: AiohttpClient, settings: Settings
) -> tuple[Client, Client]:
    # Two apps on one database stand for two ingress processes: nothing in memory is shared.
    return await aiohttp_client(create_app(settings)), await aiohttp_client(create_app(settings))


async def _status(client: Client, token: str) -> int:
    response = await client.get(HEALTHZ, headers={"X-Agent-Token": token})
    response.release()
    return response.status


async def _until_rejected(client: Client, token: str) -> float:
    started = time.monotonic()
    while await _status(client, token) != 401:
        assert time.monotonic() - started < 5, "old token still accepted after 5 s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_rotation_ends_the_remembered_token_on_a_second_process(
    aiohttp_client: AiohttpClient, settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    first, second = await _two_processes(aiohttp_client, settings)
    agent = await factory.agent(await factory.board())
    assert await _status(second, agent.token) == 200
    cached = metric("mc_agent_auth_total", outcome="cached")
    assert await _status(second, agent.token) == 200
    assert metric("mc_agent_auth_total", outcome="cached") == cached + 1  # remembered
    rotated = mint_token(TEST_ITERATIONS)
    async with db.acquire() as conn:  # what process one's rotate endpoint does
        assert await rotate_agent_token(conn, agent.id, rotated.key_id, rotated.token_hash)
    await _until_rejected(second, agent.token)
    assert await _status(first, agent.token) == 401
    assert await _status(second, rotated.token) == 200
    assert await _status(first, rotated.token) == 200


async def test_deletion_ends_the_remembered_token_on_a_second_process(
    aiohttp_client: AiohttpClient, settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    _, second = await _two_processes(aiohttp_client, settings)
    agent = await factory.agent(await factory.board())
    assert await _status(second, agent.token) == 200
    assert await _status(second, agent.token) == 200
    await db.execute("DELETE FROM agents WHERE id = $1", agent.id)
    await _until_rejected(second, agent.token)


async def test_losing_lead_rights_holds_on_a_second_process(
    aiohttp_client: AiohttpClient, settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    _, second = await _two_processes(aiohttp_client, settings)
    board = await factory.board()
    lead = await factory.agent(board, lead=True)
    headers = {"X-Agent-Token": lead.token}
    path = f"/api/v1/agent/boards/{board}/tasks"
    assert (await second.post(path, json={"title": "one"}, headers=headers)).status == 201
    await db.execute("UPDATE agents SET is_board_lead = false WHERE id = $1", lead.id)
    deadline = time.monotonic() + 5
    while (await second.post(path, json={"title": "two"}, headers=headers)).status != 403:
        assert time.monotonic() < deadline, "lead rights outlived the change"
        await asyncio.sleep(0.05)
