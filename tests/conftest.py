"""Shared fixtures: a throwaway database per run, a fresh Redis namespace per test."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from shared.db import create_pool
from shared.migrate import migrate
from shared.settings import Settings
from tests.support.databases import ADMIN_URL, PrivateDatabase, database_url_for
from tests.support.factories import Factory
from tests.support.http import Client
from tests.support.log_audit import (  # noqa: F401 (hooks: the suite-wide log audit)
    pytest_runtest_logstart,
    pytest_sessionfinish,
    pytest_sessionstart,
    register_secret,
)
from tests.support.servers import PrivateRedis, run_async

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_TABLES = (
    "task_comments, tasks, board_memory, webhook_payload_attempts, webhook_payloads,"
    " webhook_tombstones, webhooks,"
    " agents, agent_tombstones, boards"
)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database created and migrated for this test run, dropped afterwards."""
    name = f"mc_test_{secrets.token_hex(6)}"

    async def create() -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await migrate(database_url_for(name))

    async def drop() -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_async(create())
    yield database_url_for(name)
    run_async(drop())


@pytest.fixture
def local_token() -> str:
    """A fresh operator token (never committed; made per test)."""
    token = secrets.token_urlsafe(48)
    register_secret(token, "LOCAL_AUTH_TOKEN")
    return token


@pytest.fixture
def settings(database_url: str, local_token: str) -> Settings:
    """Settings for one test: its own Redis namespace, fast refreshes, generous limits."""
    return make_settings(database_url, local_token)


def make_settings(database_url: str, local_token: str, **overrides: Any) -> Settings:
    """Test settings; `overrides` replace any field."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "rq_redis_url": REDIS_URL,
        "redis_namespace": f"t{uuid.uuid4().hex[:12]}",
        "auth_mode": "local",
        "local_auth_token": local_token,
        "base_url": "http://testserver",
        "webhook_rate_limit": "10000/60",
        "agent_auth_rate_limit": "10000/60",
        "webhook_config_refresh_seconds": 0.2,
        "worker_metrics_port": 0,
        "worker_retry_base_seconds": 0.05,
        "worker_retry_max_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the run's database, emptied before the test."""
    pool = await create_pool(database_url, min_size=1, max_size=4)
    await pool.execute(f"TRUNCATE {_TABLES} CASCADE")
    yield pool
    await pool.close()


@pytest.fixture
def factory(db: asyncpg.Pool) -> Factory:
    """Makes boards, agents and webhooks."""
    return Factory(db)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings, db: asyncpg.Pool) -> Client:
    """The ingress app under test."""
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, which the test may stop and start."""
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def private_database() -> AsyncIterator[PrivateDatabase]:
    """A freshly migrated database for fault tests, dropped afterwards."""
    database = await PrivateDatabase.create("fault")
    yield database
    await database.drop()
