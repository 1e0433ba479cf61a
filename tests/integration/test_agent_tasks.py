"""The agent task API: listing, lead-only create, claim semantics, comments, memory, payloads."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shared.queries.memory import create_memory
from shared.queries.tasks import create_task
from tests.support.factories import AgentWithToken, Factory

Client = TestClient[web.Request, web.Application]
A = "/api/v1/agent"
TASK_KEYS = {
    "id", "board_id", "title", "description", "status", "priority", "assigned_agent_id",
    "payload_id", "created_at", "updated_at",
}  # fmt: skip


def auth(agent: AgentWithToken) -> dict[str, str]:
    """Headers of an agent's request."""
    return {"X-Agent-Token": agent.token}


async def _task(db: asyncpg.Pool, board: uuid.UUID, title: str, **fields: Any) -> str:
    async with db.acquire() as conn:
        row = await create_task(conn, board, title=title, **fields)
    return str(row["id"])


async def _payload(
    db: asyncpg.Pool, board: uuid.UUID, webhook: uuid.UUID, body: bytes, content_type: str
) -> uuid.UUID:
    payload_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO webhook_payloads (id, board_id, webhook_id, raw_body, content_type,"
        " received_at, status) VALUES ($1, $2, $3, $4, $5, $6, 'processed')",
        payload_id,
        board,
        webhook,
        body,
        content_type,
        datetime.now(UTC),
    )
    return payload_id


async def test_list_filters_pages_and_orders_newest_first(
    client: Client, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    worker = await factory.agent(board)
    first = await _task(db, board, "first")
    second = await _task(db, board, "second", status="in_progress", assigned_agent_id=worker.id)
    third = await _task(db, board, "third", status="review")
    response = await client.get(f"{A}/boards/{board}/tasks", headers=auth(worker))
    assert response.status == 200
    page = await response.json()
    assert [t["id"] for t in page["items"]] == [third, second, first]
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    assert set(page["items"][0]) == TASK_KEYS

    async def ids(query: str) -> list[str]:
        r = await client.get(f"{A}/boards/{board}/tasks?{query}", headers=auth(worker))
        assert r.status == 200, await r.text()
        return [t["id"] for t in (await r.json())["items"]]

    assert await ids("status=inbox,review") == [third, first]
    assert await ids(f"assigned_agent_id={worker.id}") == [second]
    assert await ids("unassigned=true") == [third, first]
    assert await ids("unassigned=false") == [second]
    assert await ids("limit=1&offset=1") == [second]
    for bad in ("status=inbox,bogus", "limit=0", "limit=201", "offset=-1", "unassigned=maybe",
                "assigned_agent_id=nope"):  # fmt: skip
        r = await client.get(f"{A}/boards/{board}/tasks?{bad}", headers=auth(worker))
        assert r.status == 422, bad
        assert (await r.json())["errors"][0]["loc"][0] == "query"


async def test_only_the_lead_creates_tasks(client: Client, factory: Factory) -> None:
    board = await factory.board()
    lead = await factory.agent(board, lead=True)
    worker = await factory.agent(board)
    path = f"{A}/boards/{board}/tasks"
    body = {"title": "Triage", "assigned_agent_id": str(worker.id)}
    response = await client.post(path, json=body, headers=auth(lead))
    assert response.status == 201
    created = await response.json()
    assert created["status"] == "inbox"
    assert created["assigned_agent_id"] == str(worker.id)
    assert (await client.post(path, json={"title": "x"}, headers=auth(worker))).status == 403
    for bad in ({}, {"title": ""}, {"title": "x", "status": "blocked"}, {"title": "x", "y": 1}):
        assert (await client.post(path, json=bad, headers=auth(lead))).status == 422, bad
    elsewhere = await factory.agent(await factory.board())
    foreign = {"title": "x", "assigned_agent_id": str(elsewhere.id)}
    assert (await client.post(path, json=foreign, headers=auth(lead))).status == 422
    not_json = await client.post(path, data=b"{", headers=auth(lead))
    assert not_json.status == 422


async def test_claim_release_and_inline_comment(
    client: Client, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    worker = await factory.agent(board)
    task = await _task(db, board, "job")
    path = f"{A}/boards/{board}/tasks/{task}"
    claimed = await client.patch(
        path, json={"status": "in_progress", "comment": "on it"}, headers=auth(worker)
    )
    assert claimed.status == 200
    body = await claimed.json()
    assert body["status"] == "in_progress"
    assert body["assigned_agent_id"] == str(worker.id)
    comments = await (await client.get(f"{path}/comments", headers=auth(worker))).json()
    assert [(c["message"], c["agent_id"]) for c in comments["items"]] == [("on it", str(worker.id))]
    review = await (
        await client.patch(path, json={"status": "review"}, headers=auth(worker))
    ).json()
    assert review["status"] == "review"
    assert review["assigned_agent_id"] is None
    done = await (await client.patch(path, json={"status": "done"}, headers=auth(worker))).json()
    assert done["assigned_agent_id"] == str(worker.id)
    inbox = await (await client.patch(path, json={"status": "inbox"}, headers=auth(worker))).json()
    assert inbox["assigned_agent_id"] is None


async def test_another_agents_task_and_forbidden_fields(
    client: Client, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    owner = await factory.agent(board)
    other = await factory.agent(board)
    lead = await factory.agent(board, lead=True)
    task = await _task(db, board, "mine", status="in_progress", assigned_agent_id=owner.id)
    path = f"{A}/boards/{board}/tasks/{task}"
    mismatch = await client.patch(path, json={"status": "done"}, headers=auth(other))
    assert mismatch.status == 403
    assert (await mismatch.json())["detail"] == "task_assignee_mismatch"
    forbidden = await client.patch(path, json={"title": "renamed"}, headers=auth(owner))
    assert forbidden.status == 403
    assert (await forbidden.json())["detail"] == "task_update_field_forbidden"
    assert (await client.patch(path, json={"status": "paused"}, headers=auth(owner))).status == 422
    assert (await client.patch(path, json={"status": None}, headers=auth(owner))).status == 422
    row = await db.fetchrow("SELECT title, status FROM tasks WHERE id = $1", uuid.UUID(task))
    assert row is not None
    assert (row["title"], row["status"]) == ("mine", "in_progress")
    # The lead manages every task of its board, any field.
    changed = await client.patch(
        path,
        json={"title": "renamed", "priority": "high", "assigned_agent_id": str(other.id)},
        headers=auth(lead),
    )
    assert changed.status == 200
    body = await changed.json()
    assert (body["title"], body["priority"], body["assigned_agent_id"]) == (
        "renamed", "high", str(other.id),
    )  # fmt: skip
    missing = f"{A}/boards/{board}/tasks/{uuid.uuid4()}"
    assert (await client.patch(missing, json={"status": "done"}, headers=auth(lead))).status == 404


async def test_concurrent_claims_have_one_winner(
    client: Client, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    agents = [await factory.agent(board, f"a{i}") for i in range(4)]
    task = await _task(db, board, "contested")
    path = f"{A}/boards/{board}/tasks/{task}"
    responses = await asyncio.gather(
        *(client.patch(path, json={"status": "in_progress"}, headers=auth(a)) for a in agents)
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200, 403, 403, 403]
    winner = next(a for a, r in zip(agents, responses, strict=True) if r.status == 200)
    assigned = await db.fetchval(
        "SELECT assigned_agent_id FROM tasks WHERE id = $1", uuid.UUID(task)
    )
    assert assigned == winner.id


async def test_comments_create_and_list(client: Client, factory: Factory, db: asyncpg.Pool) -> None:
    board = await factory.board()
    worker = await factory.agent(board)
    task = await _task(db, board, "job")
    path = f"{A}/boards/{board}/tasks/{task}/comments"
    created = await client.post(path, json={"message": "hello"}, headers=auth(worker))
    assert created.status == 201
    comment = await created.json()
    assert set(comment) == {"id", "task_id", "agent_id", "message", "created_at"}
    assert (comment["task_id"], comment["agent_id"]) == (task, str(worker.id))
    assert (await client.post(path, json={"message": ""}, headers=auth(worker))).status == 422
    assert (await client.post(path, json={}, headers=auth(worker))).status == 422
    listed = await (await client.get(path, headers=auth(worker))).json()
    assert listed["total"] == 1
    assert listed["items"][0]["message"] == "hello"
    other_task = f"{A}/boards/{board}/tasks/{uuid.uuid4()}/comments"
    assert (await client.get(other_task, headers=auth(worker))).status == 404


async def test_board_memory_with_chat_filter(
    client: Client, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    worker = await factory.agent(board)
    async with db.acquire() as conn:
        note = await create_memory(conn, board, "a note")
        chat = await create_memory(conn, board, "a chat line", is_chat=True)
    path = f"{A}/boards/{board}/memory"

    async def ids(query: str) -> list[str]:
        response = await client.get(f"{path}{query}", headers=auth(worker))
        assert response.status == 200
        return [m["id"] for m in (await response.json())["items"]]

    assert await ids("") == [str(chat["id"]), str(note["id"])]
    assert await ids("?is_chat=false") == [str(note["id"])]
    assert await ids("?is_chat=true") == [str(chat["id"])]
    assert (await client.get(f"{path}?is_chat=perhaps", headers=auth(worker))).status == 422


@pytest.mark.parametrize(
    ("body", "content_type", "full"),
    [
        (b'{"action": "opened", "n": 1}', "application/json", {"action": "opened", "n": 1}),
        (b"plain text body here", "text/plain", "plain text body here"),
    ],
)
async def test_payload_read_with_truncation(
    client: Client,
    factory: Factory,
    db: asyncpg.Pool,
    body: bytes,
    content_type: str,
    full: Any,
) -> None:
    board = await factory.board()
    worker = await factory.agent(board)
    webhook = await factory.webhook(board)
    payload = await _payload(db, board, webhook, body, content_type)
    path = f"{A}/boards/{board}/webhooks/{webhook}/payloads/{payload}"
    whole = await (await client.get(path, headers=auth(worker))).json()
    assert whole["payload"] == full
    assert whole["truncated"] is False
    text = full if isinstance(full, str) else orjson.dumps(full).decode()
    cut = await (await client.get(f"{path}?max_chars=10", headers=auth(worker))).json()
    assert cut["truncated"] is True
    assert cut["payload"] == text[:7] + "..."
    roomy = await (await client.get(f"{path}?max_chars=1000", headers=auth(worker))).json()
    assert roomy["payload"] == full
    for bad in ("abc", "2", "0"):
        response = await client.get(f"{path}?max_chars={bad}", headers=auth(worker))
        assert response.status == 422
    other_webhook = await factory.webhook(board)
    wrong = f"{A}/boards/{board}/webhooks/{other_webhook}/payloads/{payload}"
    assert (await client.get(wrong, headers=auth(worker))).status == 404


async def test_an_agent_of_another_board_is_refused_everywhere(
    client: Client, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    webhook = await factory.webhook(board)
    task = await _task(db, board, "job")
    payload = await _payload(db, board, webhook, b"{}", "application/json")
    outsider = await factory.agent(await factory.board("other"), lead=True)
    routes: list[tuple[str, str, Any]] = [
        ("GET", f"{A}/boards/{board}/tasks", None),
        ("POST", f"{A}/boards/{board}/tasks", {"title": "x"}),
        ("PATCH", f"{A}/boards/{board}/tasks/{task}", {"status": "in_progress"}),
        ("GET", f"{A}/boards/{board}/tasks/{task}/comments", None),
        ("POST", f"{A}/boards/{board}/tasks/{task}/comments", {"message": "hi"}),
        ("GET", f"{A}/boards/{board}/memory", None),
        ("GET", f"{A}/boards/{board}/webhooks/{webhook}/payloads/{payload}", None),
        ("GET", f"/api/v1/boards/{board}/tasks", None),
        ("POST", f"/api/v1/boards/{board}/tasks", {"title": "x"}),
        ("PATCH", f"/api/v1/boards/{board}/tasks/{task}", {"status": "in_progress"}),
        ("GET", f"/api/v1/boards/{board}/tasks/{task}/comments", None),
        ("POST", f"/api/v1/boards/{board}/tasks/{task}/comments", {"message": "hi"}),
    ]
    for method, path, body in routes:
        response = await client.request(method, path, json=body, headers=auth(outsider))
        assert response.status == 403, (method, path)
    unchanged = await db.fetchrow("SELECT status FROM tasks WHERE id = $1", uuid.UUID(task))
    assert unchanged is not None
    assert unchanged["status"] == "inbox"
    assert await db.fetchval("SELECT count(*) FROM task_comments") == 0


async def test_every_agent_route_requires_a_token(client: Client, factory: Factory) -> None:
    board, task = uuid.uuid4(), uuid.uuid4()
    for method, path in [
        ("GET", f"{A}/healthz"),
        ("POST", f"{A}/heartbeat"),
        ("GET", f"{A}/boards/{board}/tasks"),
        ("POST", f"{A}/boards/{board}/tasks"),
        ("PATCH", f"{A}/boards/{board}/tasks/{task}"),
        ("GET", f"{A}/boards/{board}/tasks/{task}/comments"),
        ("POST", f"{A}/boards/{board}/tasks/{task}/comments"),
        ("GET", f"{A}/boards/{board}/memory"),
        ("GET", f"{A}/boards/{board}/webhooks/{task}/payloads/{task}"),
    ]:
        response = await client.request(method, path)
        assert response.status == 401, (method, path)
