"""Kept task-list pages: read-your-writes in a process, notified changes from elsewhere, scoping.

Most tests freeze the pages' clock, so a page never expires by age during the test: what drops
it is then only the behaviour under test (a write in this process, or a notification).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

from ingress.app import create_app
from ingress.keys import TASK_PAGES
from ingress.task_changes import TASK_CHANGE_LISTENER
from shared.queries.tasks import create_task, list_tasks
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.factories import AgentWithToken, Factory
from tests.support.operator_api import eventually

Client = TestClient[Request, Application]
A = "/api/v1/agent"


def auth(agent: AgentWithToken) -> dict[str, str]:
    """Headers of an agent's request."""
    return {"X-Agent-Token": agent.token}


def freeze_page_clock(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept pages never expire by age from now on (only invalidation drops them)."""
    monkeypatch.setattr(client.app[TASK_PAGES], "_now", lambda: 1000.0)


async def without_notifications(client: Client) -> None:
    """Stop this process's change listener: only its own writes can drop its pages."""
    await client.app[TASK_CHANGE_LISTENER].stop()


async def listing(client: Client, agent: AgentWithToken, query: str = "") -> dict[str, Any]:
    response = await client.get(f"{A}/boards/{agent.board_id}/tasks?{query}", headers=auth(agent))
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def insert_elsewhere(db: asyncpg.Pool, board: uuid.UUID, title: str, **fields: Any) -> str:
    """A task written by another process (the worker, another ingress): not through this app."""
    async with db.acquire() as conn:
        row = await create_task(conn, board, title=title, **fields)
    return str(row["id"])


async def test_an_agent_sees_its_claim_on_its_next_poll(
    client: Client, factory: Factory, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = await factory.board()
    agent = await factory.agent(board)
    task = await insert_elsewhere(db, board, "open")
    await without_notifications(client)
    freeze_page_clock(client, monkeypatch)
    before = await listing(client, agent)
    unassigned_before = await listing(client, agent, "unassigned=true&limit=10")
    assert before["items"][0]["status"] == "inbox"
    assert [t["id"] for t in unassigned_before["items"]] == [task]
    claimed = await client.patch(
        f"{A}/boards/{board}/tasks/{task}", json={"status": "in_progress"}, headers=auth(agent)
    )
    assert claimed.status == 200
    after = await listing(client, agent)
    assert after["items"][0]["status"] == "in_progress"
    assert after["items"][0]["assigned_agent_id"] == str(agent.id)
    assert (await listing(client, agent, "unassigned=true&limit=10"))["items"] == []


async def test_creates_updates_and_comments_through_this_process_drop_the_pages(
    client: Client,
    factory: Factory,
    db: asyncpg.Pool,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    board = await factory.board()
    lead = await factory.agent(board, "lead", lead=True)
    operator = {"Authorization": f"Bearer {settings.local_auth_token}"}
    await without_notifications(client)
    freeze_page_clock(client, monkeypatch)
    pages = client.app[TASK_PAGES]
    assert (await listing(client, lead))["total"] == 0

    created = await client.post(
        f"{A}/boards/{board}/tasks", json={"title": "a"}, headers=auth(lead)
    )
    assert created.status == 201
    task = (await created.json())["id"]
    assert [t["title"] for t in (await listing(client, lead))["items"]] == ["a"]

    by_operator = await client.post(
        f"/api/v1/boards/{board}/tasks", json={"title": "b"}, headers=operator
    )
    assert by_operator.status == 201
    assert [t["title"] for t in (await listing(client, lead))["items"]] == ["b", "a"]

    renamed = await client.patch(
        f"{A}/boards/{board}/tasks/{task}", json={"title": "a2"}, headers=auth(lead)
    )
    assert renamed.status == 200
    assert [t["title"] for t in (await listing(client, lead))["items"]] == ["b", "a2"]

    # Comments do not show in the list today; they still drop the pages, so a list that
    # one day shows comment counts stays right.
    assert pages.get(board, "") is not None
    commented = await client.post(
        f"{A}/boards/{board}/tasks/{task}/comments", json={"message": "hi"}, headers=auth(lead)
    )
    assert commented.status == 201
    assert pages.get(board, "") is None
    await listing(client, lead)
    inline = await client.patch(
        f"{A}/boards/{board}/tasks/{task}", json={"comment": "inline"}, headers=auth(lead)
    )
    assert inline.status == 200
    assert pages.get(board, "") is None


async def test_a_refused_write_still_leaves_the_list_right(
    client: Client, factory: Factory, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = await factory.board()
    agent, other = await factory.agent(board, "a"), await factory.agent(board, "b")
    task = await insert_elsewhere(
        db, board, "theirs", status="in_progress", assigned_agent_id=other.id
    )
    await without_notifications(client)
    freeze_page_clock(client, monkeypatch)
    before = await listing(client, agent)
    refused = await client.patch(
        f"{A}/boards/{board}/tasks/{task}", json={"status": "done"}, headers=auth(agent)
    )
    assert refused.status == 403
    assert await listing(client, agent) == before


async def test_changes_by_other_processes_arrive_by_notification(
    client: Client, factory: Factory, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = await factory.board()
    other_board = await factory.board("other")
    agent = await factory.agent(board)
    other_agent = await factory.agent(other_board)
    freeze_page_clock(client, monkeypatch)  # pages never expire: only a notification helps
    assert client.app[TASK_CHANGE_LISTENER].listening
    assert (await listing(client, agent))["total"] == 0
    assert (await listing(client, other_agent))["total"] == 0
    new = await insert_elsewhere(db, board, "from the worker")

    async def seen() -> bool:
        return [t["id"] for t in (await listing(client, agent))["items"]] == [new]

    await eventually(seen)
    assert client.app[TASK_PAGES].get(other_board, "") is not None  # other boards stay kept

    await db.execute("UPDATE tasks SET title = 'renamed' WHERE id = $1", uuid.UUID(new))

    async def renamed() -> bool:
        return bool((await listing(client, agent))["items"][0]["title"] == "renamed")

    await eventually(renamed)
    await db.execute("DELETE FROM tasks WHERE id = $1", uuid.UUID(new))

    async def deleted() -> bool:
        return bool((await listing(client, agent))["total"] == 0)

    await eventually(deleted)


async def test_losing_the_notification_connection_drops_pages_and_listening_resumes(
    client: Client, factory: Factory, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = await factory.board()
    agent = await factory.agent(board)
    freeze_page_clock(client, monkeypatch)
    listener = client.app[TASK_CHANGE_LISTENER]
    await listing(client, agent)
    pages = client.app[TASK_PAGES]
    assert pages.get(board, "") is not None
    killed = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query = 'LISTEN \"task_changes\"'"
    )
    assert killed == 1

    async def dropped() -> bool:
        return pages.get(board, "") is None

    await eventually(dropped)

    async def listening_again() -> bool:
        await asyncio.sleep(0)
        return listener.listening

    await eventually(listening_again)
    await listing(client, agent)
    new = await insert_elsewhere(db, board, "after the reconnect")

    async def seen() -> bool:
        return [t["id"] for t in (await listing(client, agent))["items"]] == [new]

    await eventually(seen)


async def test_kept_pages_keep_board_scoping(
    client: Client,
    factory: Factory,
    db: asyncpg.Pool,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    board = await factory.board()
    other_board = await factory.board("other")
    agent = await factory.agent(board)
    stranger = await factory.agent(other_board)
    await insert_elsewhere(db, board, "private")
    await without_notifications(client)
    freeze_page_clock(client, monkeypatch)
    operator = {"Authorization": f"Bearer {settings.local_auth_token}"}
    await listing(client, agent, "limit=10")
    assert client.app[TASK_PAGES].get(board, "limit=10") is not None
    for path in (f"{A}/boards/{board}/tasks?limit=10", f"/api/v1/boards/{board}/tasks?limit=10"):
        for headers in (auth(stranger), {"Authorization": f"Bearer {stranger.token}"}):
            refused = await client.get(path, headers=headers)
            assert refused.status == 403
            assert "private" not in await refused.text()
        anonymous = await client.get(path)
        assert anonymous.status == 401
    empty_board = await factory.board("empty")
    kept = await client.get(f"/api/v1/boards/{empty_board}/tasks", headers=operator)
    assert kept.status == 200
    await db.execute("DELETE FROM boards WHERE id = $1", empty_board)  # no task: no notice
    gone = await client.get(f"/api/v1/boards/{empty_board}/tasks", headers=operator)
    assert gone.status == 404


async def test_filters_and_paging_stay_exact_with_kept_pages(
    client: Client, factory: Factory, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = await factory.board()
    agent = await factory.agent(board)
    await without_notifications(client)
    freeze_page_clock(client, monkeypatch)
    first = await insert_elsewhere(db, board, "first")
    second = await insert_elsewhere(db, board, "second", status="review")
    third = await insert_elsewhere(
        db, board, "third", status="in_progress", assigned_agent_id=agent.id
    )
    queries = {  # query → (ids on the page, total)
        "": ([third, second, first], 3),
        "status=inbox,review": ([second, first], 2),
        "status=in_progress": ([third], 1),
        f"assigned_agent_id={agent.id}": ([third], 1),
        "unassigned=true": ([second, first], 2),
        "unassigned=false": ([third], 1),
        "limit=1": ([third], 3),
        "limit=1&offset=1": ([second], 3),
        "limit=2&offset=2": ([first], 3),
        "offset=9": ([], 3),
    }
    for _ in range(2):  # the second round is answered from kept pages
        for query, (ids, total) in queries.items():
            page = await listing(client, agent, query)
            assert ([t["id"] for t in page["items"]], page["total"]) == (ids, total), query
    for bad in ("limit=0", "status=nope", "unassigned=maybe", "assigned_agent_id=x"):
        for _ in range(2):
            response = await client.get(f"{A}/boards/{board}/tasks?{bad}", headers=auth(agent))
            assert response.status == 422, bad
    claimed = await client.patch(
        f"{A}/boards/{board}/tasks/{first}", json={"status": "in_progress"}, headers=auth(agent)
    )
    assert claimed.status == 200
    after = {
        "": [third, second, first],
        "status=inbox,review": [second],
        f"assigned_agent_id={agent.id}": [third, first],
        "unassigned=true": [second],
        "unassigned=false": [third, first],
        "limit=2&offset=2": [first],
    }
    for query, expected in after.items():
        assert [t["id"] for t in (await listing(client, agent, query))["items"]] == expected, query


async def test_the_page_is_byte_for_byte_what_orjson_wrote(
    client: Client, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    agent = await factory.agent(board)
    titles = ["plain", 'quo"te', "back\\slash", "ctl\x01\x1f\x7f", "nl\n\t\r\b\f", "ünï 😀 \u2028"]
    for title in titles:
        await insert_elsewhere(db, board, title, description=title[::-1])
    await db.execute(
        "UPDATE tasks SET created_at = date_trunc('second', created_at) WHERE title = 'plain'"
    )
    await db.execute(
        "UPDATE tasks SET updated_at = '2020-01-02 03:04:05.120000+00', assigned_agent_id = $1"
        " WHERE title = 'quo\"te'",
        agent.id,
    )
    for limit, offset in ((50, 0), (2, 1), (3, 9)):
        response = await client.get(
            f"{A}/boards/{board}/tasks?limit={limit}&offset={offset}", headers=auth(agent)
        )
        async with db.acquire() as conn:
            rows, total = await list_tasks(conn, board, limit=limit, offset=offset)
        expected = orjson.dumps(
            {"items": rows, "total": total, "limit": limit, "offset": offset},
            default=lambda value: str(value) if isinstance(value, uuid.UUID) else None,
        )
        assert await response.read() == expected
        assert response.content_type == "application/json"


async def test_no_pages_are_kept_when_the_setting_is_zero(
    aiohttp_client: Any, database_url: str, local_token: str, factory: Factory, db: asyncpg.Pool
) -> None:
    settings = make_settings(database_url, local_token, task_list_cache_seconds=0)
    client: Client = await aiohttp_client(create_app(settings))
    board = await factory.board()
    agent = await factory.agent(board)
    assert TASK_CHANGE_LISTENER not in client.app
    await listing(client, agent)
    assert client.app[TASK_PAGES].get(board, "") is None
    new = await insert_elsewhere(db, board, "at once")
    assert [t["id"] for t in (await listing(client, agent))["items"]] == [new]


async def test_one_batch_insert_notifies_each_board_once(
    factory: Factory, db: asyncpg.Pool, database_url: str
) -> None:
    boards = [await factory.board("one"), await factory.board("two")]
    received: list[str] = []
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener("task_changes", lambda *args: received.append(args[3]))
        # The worker's shape: many tasks of several boards in one statement.
        await db.execute(
            "INSERT INTO tasks (id, board_id, title)"
            " SELECT gen_random_uuid(), b, 'batch ' || n"
            " FROM unnest($1::uuid[]) b, generate_series(1, 50) n",
            boards,
        )

        async def both() -> bool:
            await listener.execute("SELECT 1")  # let pending notifications in
            return len(received) >= 2

        await eventually(both)
        assert sorted(received) == sorted(str(b) for b in boards)
    finally:
        await listener.close()
