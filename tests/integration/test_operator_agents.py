"""Operator API: agents; the token is shown once on create and on rotate, never listed."""

from __future__ import annotations

import secrets
import uuid

import asyncpg
import pytest

from shared.tokens import parse_token, verify_secret
from tests.support.factories import Factory
from tests.support.operator_api import Client, OperatorApi

AGENT_FIELDS = {
    "id",
    "name",
    "board_id",
    "is_board_lead",
    "status",
    "last_seen_at",
    "created_at",
    "updated_at",
}


@pytest.fixture
def api(client: Client, local_token: str) -> OperatorApi:
    return OperatorApi(client, local_token)


async def _stored_hash(db: asyncpg.Pool, agent_id: str) -> asyncpg.Record:
    row = await db.fetchrow(
        "SELECT token_key_id, token_hash, updated_at FROM agents WHERE id = $1",
        uuid.UUID(agent_id),
    )
    assert row is not None
    return row


def _verifies(token: str, stored: asyncpg.Record) -> bool:
    parsed = parse_token(token)
    assert parsed is not None
    key_id, secret = parsed
    return key_id == stored["token_key_id"] and verify_secret(secret, stored["token_hash"])


async def test_create_shows_the_token_once_and_lists_never(
    api: OperatorApi, db: asyncpg.Pool
) -> None:
    board = await api.board()
    base = f"/api/v1/boards/{board['id']}/agents"
    created = await api.call("POST", base, {"name": "triage", "is_board_lead": True})
    assert created.status == 201
    agent = created.body
    assert set(agent) == AGENT_FIELDS | {"token"}
    assert (agent["name"], agent["board_id"], agent["is_board_lead"]) == (
        "triage",
        board["id"],
        True,
    )
    token = agent["token"]
    stored = await _stored_hash(db, agent["id"])
    assert _verifies(token, stored)
    assert token not in stored["token_hash"]

    listed = await api.call("GET", base)
    assert listed.status == 200
    assert (listed.body["total"], listed.body["limit"], listed.body["offset"]) == (1, 50, 0)
    assert set(listed.body["items"][0]) == AGENT_FIELDS
    one = await api.call("GET", f"{base}/{agent['id']}")
    assert one.status == 200
    assert set(one.body) == AGENT_FIELDS
    # Neither the token, nor its key id or hash, appears in any later answer.
    for text in api.texts[2:]:
        assert token not in text
        assert stored["token_key_id"] not in text
        assert "pbkdf2" not in text


async def test_is_board_lead_defaults_to_false(api: OperatorApi) -> None:
    board = await api.board()
    created = await api.call("POST", f"/api/v1/boards/{board['id']}/agents", {"name": "helper"})
    assert created.status == 201
    assert created.body["is_board_lead"] is False


async def test_rotate_replaces_the_token(api: OperatorApi, db: asyncpg.Pool) -> None:
    board = await api.board()
    base = f"/api/v1/boards/{board['id']}/agents"
    agent = (await api.call("POST", base, {"name": "a"})).body
    before = await _stored_hash(db, agent["id"])

    rotated = await api.call("POST", f"{base}/{agent['id']}/token")
    assert rotated.status == 200
    assert set(rotated.body) == AGENT_FIELDS | {"token"}
    assert rotated.body["id"] == agent["id"]
    new_token = rotated.body["token"]
    assert new_token != agent["token"]
    after = await _stored_hash(db, agent["id"])
    assert _verifies(new_token, after)
    assert not _verifies(agent["token"], after)
    assert after["token_key_id"] != before["token_key_id"]
    # Token memories of other processes notice a rotation by updated_at.
    assert after["updated_at"] > before["updated_at"]
    listed = await api.call("GET", base)
    assert new_token not in api.texts[-1]
    assert "token" not in listed.body["items"][0]


async def test_rotate_needs_no_body(api: OperatorApi) -> None:
    board = await api.board()
    base = f"/api/v1/boards/{board['id']}/agents"
    agent = (await api.call("POST", base, {"name": "a"})).body
    assert (await api.call("POST", f"{base}/{agent['id']}/token", raw=b"")).status == 200


async def test_delete_agent(api: OperatorApi, db: asyncpg.Pool) -> None:
    board = await api.board()
    base = f"/api/v1/boards/{board['id']}/agents"
    agent = (await api.call("POST", base, {"name": "a"})).body
    assert (await api.call("DELETE", f"{base}/{agent['id']}")).status == 204
    assert (await api.call("GET", f"{base}/{agent['id']}")).status == 404
    assert (await api.call("DELETE", f"{base}/{agent['id']}")).status == 404
    assert (await api.call("POST", f"{base}/{agent['id']}/token")).status == 404
    assert await db.fetchval("SELECT count(*) FROM agents") == 0


async def test_agents_of_another_board_or_unknown_ids_are_404(
    api: OperatorApi, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    other = await factory.board()
    agent = await factory.agent(board)
    hash_before = await _stored_hash(db, str(agent.id))
    for path in (
        f"/api/v1/boards/{other}/agents/{agent.id}",
        f"/api/v1/boards/{board}/agents/{uuid.uuid4()}",
        f"/api/v1/boards/{board}/agents/not-an-id",
        f"/api/v1/boards/not-an-id/agents/{agent.id}",
    ):
        for method in ("GET", "DELETE"):
            assert (await api.call(method, path)).status == 404, (method, path)
        assert (await api.call("POST", f"{path}/token")).status == 404, path
    # Nothing was rotated or deleted through the wrong board.
    assert await _stored_hash(db, str(agent.id)) == hash_before
    unknown_board = f"/api/v1/boards/{uuid.uuid4()}/agents"
    assert (await api.call("POST", unknown_board, {"name": "a"})).status == 404
    assert (await api.call("GET", unknown_board)).status == 404
    assert (await api.call("GET", f"/api/v1/boards/{other}/agents")).body["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 7},
        {"name": "a", "is_board_lead": "yes"},
        {"name": "a", "is_board_lead": 1},
        {"name": "a", "token": secrets.token_hex(8)},
        {"name": "a\x00"},
    ],
)
async def test_bad_agent_bodies_are_422(api: OperatorApi, body: dict[str, object]) -> None:
    board = await api.board()
    reply = await api.call("POST", f"/api/v1/boards/{board['id']}/agents", body)
    assert reply.status == 422
    assert reply.body["errors"]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=-1", "limit=abc", "offset=-1"])
async def test_agent_list_paging_out_of_range_is_422(api: OperatorApi, query: str) -> None:
    board = await api.board()
    reply = await api.call("GET", f"/api/v1/boards/{board['id']}/agents?{query}")
    assert reply.status == 422
