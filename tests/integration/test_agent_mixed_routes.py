"""Mixed user/agent task routes: users first, the bearer as an agent token only after."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from tests.conftest import make_settings
from tests.support.agent_auth import pbkdf2_runs, random_token
from tests.support.factories import Factory

Client = TestClient[web.Request, web.Application]


async def test_users_do_everything_on_any_board(
    client: Client, factory: Factory, local_token: str
) -> None:
    board = await factory.board()
    worker = await factory.agent(board)
    user = {"Authorization": f"Bearer {local_token}"}
    tasks = f"/api/v1/boards/{board}/tasks"
    created = await client.post(tasks, json={"title": "Ship it", "priority": "high"}, headers=user)
    assert created.status == 201
    task = await created.json()
    path = f"{tasks}/{task['id']}"
    patched = await client.patch(
        path,
        json={"title": "Ship it now", "assigned_agent_id": str(worker.id), "comment": "please"},
        headers=user,
    )
    assert patched.status == 200
    body = await patched.json()
    assert (body["title"], body["assigned_agent_id"], body["status"]) == (
        "Ship it now", str(worker.id), "inbox",
    )  # fmt: skip
    comment = await client.post(f"{path}/comments", json={"message": "thanks"}, headers=user)
    assert comment.status == 201
    assert (await comment.json())["agent_id"] is None
    listed = await (await client.get(f"{path}/comments", headers=user)).json()
    assert [c["message"] for c in listed["items"]] == ["please", "thanks"]
    page = await (await client.get(tasks, headers=user)).json()
    assert page["total"] == 1
    missing = await client.get(f"/api/v1/boards/{uuid.uuid4()}/tasks", headers=user)
    assert missing.status == 404


async def test_agents_use_the_mixed_routes_with_a_bearer_token(
    client: Client, factory: Factory
) -> None:
    board = await factory.board()
    worker = await factory.agent(board)
    response = await client.get(
        f"/api/v1/boards/{board}/tasks", headers={"Authorization": f"Bearer {worker.token}"}
    )
    assert response.status == 200
    lead_only = await client.post(
        f"/api/v1/boards/{board}/tasks",
        json={"title": "x"},
        headers={"X-Agent-Token": worker.token},
    )
    assert lead_only.status == 403


async def test_bearer_fallback_is_rate_limited_and_users_are_not(
    aiohttp_client: AiohttpClient,
    database_url: str,
    local_token: str,
    factory: Factory,
    db: asyncpg.Pool,
) -> None:
    settings = make_settings(database_url, local_token, agent_auth_rate_limit="3/60")
    client = await aiohttp_client(create_app(settings))
    board = await factory.board()
    path = f"/api/v1/boards/{board}/tasks"
    user = {"Authorization": f"Bearer {local_token}"}
    before = pbkdf2_runs()
    for _ in range(20):  # users never reach agent auth, so they spend none of the allowance
        assert (await client.get(path, headers=user)).status == 200
    assert pbkdf2_runs() == before
    for _ in range(3):
        bad = {"Authorization": f"Bearer {random_token()}"}
        assert (await client.get(path, headers=bad)).status == 401
    limited = await client.get(path, headers={"Authorization": f"Bearer {random_token()}"})
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert pbkdf2_runs() - before == 3  # the refused request was not hashed
    assert (await client.get(path, headers=user)).status == 200  # users still pass


async def test_x_agent_token_is_never_a_user(
    client: Client, factory: Factory, local_token: str
) -> None:
    board = await factory.board()
    response = await client.get(
        f"/api/v1/boards/{board}/tasks",
        headers={"X-Agent-Token": local_token, "Authorization": f"Bearer {local_token}"},
    )
    assert response.status == 401
