"""Every board route, taken from the router: another board's agent gets nothing, and no answer
ever shows a webhook secret. A new route is covered as soon as it is added."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from shared.queries.comments import create_comment
from shared.queries.memory import create_memory
from tests.security.conftest import Target
from tests.support.factories import Factory
from tests.support.http import Client
from tests.support.log_audit import register_secret

PLACEHOLDER = re.compile(r"\{(\w+)\}")
MARKER = "victim-" + secrets.token_hex(6)


def board_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, canonical path) of every route that reaches into a board."""
    found = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and ("{board_id}" in route.resource.canonical or "/agent/" in route.resource.canonical)
    }
    # Deletions last, so every other route still finds what it asks for.
    return sorted(found, key=lambda r: (r[0] == "DELETE", r[1], r[0]))


def fill(canonical: str, ids: dict[str, str]) -> str:
    """The path with each placeholder replaced; an unknown placeholder fails loudly."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in ids, f"no test id for {{{name}}} in {canonical}: add one here"
        return ids[name]

    return PLACEHOLDER.sub(value, canonical)


async def victim_rows(db: asyncpg.Pool, target: Target) -> dict[str, str]:
    """A payload, a comment and a memory entry on the target board; the ids to use."""
    payload = uuid.uuid4()
    await db.execute(
        "INSERT INTO webhook_payloads (id, board_id, webhook_id, raw_body, content_type,"
        " received_at, status) VALUES ($1, $2, $3, $4, 'application/json', $5, 'processed')",
        payload,
        target.board,
        target.webhook,
        orjson.dumps({"marker": MARKER}),
        datetime.now(UTC),
    )
    async with db.acquire() as conn:
        await create_comment(conn, target.task, None, MARKER)
        await create_memory(conn, target.board, content=MARKER)
    return {
        "board_id": str(target.board),
        "webhook_id": str(target.webhook),
        "task_id": str(target.task),
        "payload_id": str(payload),
        "agent_id": str(target.agent.id),
    }


async def snapshot(db: asyncpg.Pool, board: uuid.UUID) -> dict[str, Any]:
    """Everything stored for `board`, as text."""
    queries = {
        "boards": "SELECT b::text FROM boards b WHERE id = $1",
        "agents": "SELECT (a.id, a.name, a.token_hash)::text FROM agents a WHERE board_id = $1",
        "webhooks": "SELECT w::text FROM webhooks w WHERE board_id = $1",
        "tasks": "SELECT t::text FROM tasks t WHERE board_id = $1",
        "comments": "SELECT c::text FROM task_comments c JOIN tasks t ON t.id = c.task_id"
        " WHERE t.board_id = $1",
        "memory": "SELECT m::text FROM board_memory m WHERE board_id = $1",
        "payloads": "SELECT p::text FROM webhook_payloads p WHERE board_id = $1",
    }
    return {name: sorted(await db.fetch(sql, board)) for name, sql in queries.items()}


BODY = orjson.dumps(
    {"title": "x", "message": "x", "status": "in_progress", "name": "x", "description": "x"}
)


async def test_an_agent_of_another_board_gets_nothing_on_any_board_route(
    client: Client, target: Target, factory: Factory, db: asyncpg.Pool
) -> None:
    ids = await victim_rows(db, target)
    outsider = await factory.agent(await factory.board("other"), lead=True)
    before = await snapshot(db, target.board)
    routes = board_routes(client.app)
    assert len(routes) >= 20  # the router really was read
    answered: dict[tuple[str, str], set[int]] = {}
    for method, canonical in routes:
        path = fill(canonical, ids)
        for headers in (
            {"X-Agent-Token": outsider.token},
            {"Authorization": f"Bearer {outsider.token}"},
        ):
            response = await client.request(
                method,
                path,
                data=BODY,
                headers={**headers, "Content-Type": "application/json"},
            )
            text = await response.text()
            answered.setdefault((method, canonical), set()).add(response.status)
            assert MARKER not in text, (method, canonical)
            assert str(target.secret) not in text
            if "{board_id}" in canonical:
                # Agent routes say 403; user-only routes say 401; the ingest route wants
                # the victim webhook's signature (403).
                assert response.status in (401, 403), (method, canonical, response.status)
            else:  # the outsider's own identity routes (healthz, heartbeat)
                assert response.status == 200, (method, canonical)
    agent_board_routes = {
        r for r in answered if "{board_id}" in r[1] and r[0] != "HEAD" and "/tasks" in r[1]
    } | {r for r in answered if r[1].startswith("/api/v1/agent/boards/") and r[0] != "HEAD"}
    assert agent_board_routes
    for route in agent_board_routes:
        assert answered[route] == {403}, route
    assert set(answered) == set(routes)
    assert await snapshot(db, target.board) == before


async def test_no_answer_of_any_route_shows_a_webhook_secret(
    client: Client, target: Target, db: asyncpg.Pool
) -> None:
    ids = await victim_rows(db, target)
    operator = {"Authorization": f"Bearer {target.operator_token}"}
    hook_path = f"/api/v1/boards/{target.board}/webhooks/{target.webhook}"
    # A second secret, with the first kept for a grace period: both are write-only.
    previous, current = target.secret, secrets.token_hex(20)
    register_secret(current, "webhook secret")
    rotated = await client.post(
        f"{hook_path}/rotate-secret",
        json={"secret": current, "grace_seconds": 600},
        headers=operator,
    )
    assert rotated.status == 200
    texts = [await rotated.text()]
    bodies: list[bytes] = [
        b"",
        b"{not json",
        BODY,
        orjson.dumps({"secret": current, "signature_scheme": "md5"}),
        orjson.dumps({"secret": 5, "nope": current}),
        orjson.dumps({"enabled": current, "agent_id": current}),
        orjson.dumps({"secret": current, "grace_seconds": -1}),
        orjson.dumps({"signature_scheme": "md5", "description": 7}),
        orjson.dumps([current]),
    ]
    routes = board_routes(client.app)
    for method, canonical in routes:
        if method == "DELETE" or canonical.endswith("/rotate-secret") or method == "PATCH":
            continue  # a successful change would end the grace period; done below
        for body in bodies:
            for headers in (operator, {"X-Agent-Token": target.agent.token}):
                response = await client.request(
                    method, fill(canonical, ids), data=body, headers=headers
                )
                texts.append(await response.text() + str(dict(response.headers)))
    for body in bodies:  # refused changes, then the listings and the webhook itself
        for path in (hook_path, f"{hook_path}/rotate-secret"):
            method = "PATCH" if path == hook_path else "POST"
            response = await client.request(method, path, data=body, headers=operator)
            assert response.status in (404, 422), (path, body, response.status)
            texts.append(await response.text() + str(dict(response.headers)))
    for path in (
        f"/api/v1/boards/{target.board}/webhooks",
        hook_path,
        f"/api/v1/boards/{target.board}/webhooks/{uuid.uuid4()}",
        f"/api/v1/boards/{uuid.uuid4()}/webhooks/{target.webhook}",
    ):
        response = await client.get(path, headers=operator)
        texts.append(await response.text() + str(dict(response.headers)))
    patched = await client.patch(hook_path, json={"description": "still secret"}, headers=operator)
    assert patched.status == 200
    texts.append(await patched.text())
    deleted = await client.delete(hook_path, headers=operator)
    texts.append(await deleted.text() + str(dict(deleted.headers)))
    assert len(texts) > 100
    for text in texts:
        assert previous not in text
        assert current not in text
