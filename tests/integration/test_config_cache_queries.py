"""Unknown webhook ids share rate-capped refreshes: they never become one query each."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shared.queries import webhook_configs
from shared.queries.webhook_configs import ConfigChanges
from tests.support.factories import Factory
from tests.support.http import Client, ingest_path

CACHE = "ingress.config_cache"


async def test_random_unknown_ids_cost_a_bounded_number_of_queries(
    client: Client, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = await factory.board()
    queries = 0

    async def counted_changes(conn: Any, since: Any) -> ConfigChanges:
        nonlocal queries
        queries += 1
        return await webhook_configs.fetch_webhook_config_changes(conn, since)

    async def counted_all(conn: Any) -> ConfigChanges:
        nonlocal queries
        queries += 1
        return await webhook_configs.fetch_all_webhook_configs(conn)

    # Observe the cache's queries (they still run against PostgreSQL).
    monkeypatch.setattr(f"{CACHE}.fetch_webhook_config_changes", counted_changes)
    monkeypatch.setattr(f"{CACHE}.fetch_all_webhook_configs", counted_all)
    responses = await asyncio.gather(
        *(client.post(ingest_path(board, uuid.uuid4()), data=b"{}") for _ in range(200))
    )
    assert {r.status for r in responses} == {404}
    # Misses share refreshes started at most every 50 ms, plus the 0.2 s background poll:
    # a handful for the whole burst, never one per request.
    assert queries < 40, queries


async def test_a_webhook_created_a_moment_ago_takes_deliveries_at_once(
    client: Client, factory: Factory
) -> None:
    board = await factory.board()
    await client.get("/healthz")  # the app (and its cache) exists before the webhook does
    hook = await factory.webhook(board)
    response = await client.post(ingest_path(board, hook), data=b"{}")
    assert response.status == 202
