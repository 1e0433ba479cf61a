"""Fixtures of the hostile-input tests: a board with a signed webhook, an agent and a task."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest

from shared.queries.tasks import create_task
from tests.support.factories import AgentWithToken, Factory
from tests.support.http import Client, ingest_path
from tests.support.operator_api import sign


@dataclass(frozen=True)
class Target:
    """What the fuzzers aim at: real ids, so some requests get past the first checks."""

    board: uuid.UUID
    webhook: uuid.UUID
    secret: str
    agent: AgentWithToken
    task: uuid.UUID
    operator_token: str

    @property
    def ingest(self) -> str:
        """The signed webhook's ingest path."""
        return ingest_path(self.board, self.webhook)


@pytest.fixture
async def target(factory: Factory, db: asyncpg.Pool, local_token: str) -> Target:
    """A board with a signed webhook, a lead agent and one task."""
    board = await factory.board()
    secret = secrets.token_hex(20)
    webhook = await factory.webhook(board, secret=secret)
    agent = await factory.agent(board, lead=True)
    async with db.acquire() as conn:
        task = await create_task(conn, board, title="fuzz target")
    return Target(board, webhook, secret, agent, task["id"], local_token)


async def assert_still_serving(client: Client, target: Target) -> None:
    """The app answers normally: a signed delivery is accepted with 202."""
    body = b'{"after": "fuzzing"}'
    response = await client.post(
        target.ingest,
        timeout=aiohttp.ClientTimeout(total=30),
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(target.secret, body),
        },
    )
    assert response.status == 202, await response.text()
    response.release()
