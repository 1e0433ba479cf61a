"""Operator API: webhooks CRUD, validation and the write-only secret."""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Any

import asyncpg
import pytest
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from tests.conftest import make_settings
from tests.support.factories import Factory
from tests.support.operator_api import Client, OperatorApi, deliver
from tests.support.workers import drain_queue

WEBHOOK_FIELDS = {
    "id",
    "board_id",
    "agent_id",
    "description",
    "enabled",
    "has_secret",
    "signature_header",
    "signature_scheme",
    "timestamp_tolerance_seconds",
    "previous_secret_expires_at",
    "endpoint_path",
    "endpoint_url",
    "created_at",
    "updated_at",
}


@pytest.fixture
def api(client: Client, local_token: str) -> OperatorApi:
    return OperatorApi(client, local_token)


def _fields(body: dict[str, Any]) -> set[str]:
    return {str(e["loc"][-1]) for e in body["errors"] if e["loc"]}


async def test_create_and_read_a_webhook(api: OperatorApi) -> None:
    board = await api.board()
    base = f"/api/v1/boards/{board['id']}/webhooks"
    created = await api.call("POST", base, {"description": "GitHub"})
    assert created.status == 201
    hook = created.body
    assert set(hook) == WEBHOOK_FIELDS
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    assert hook["endpoint_path"] == path
    assert hook["endpoint_url"] == f"http://testserver{path}"
    assert hook["board_id"] == board["id"]
    assert hook["agent_id"] is None
    assert hook["enabled"] is True
    assert hook["has_secret"] is False
    assert hook["signature_header"] is None
    assert hook["signature_scheme"] == "hmac-sha256"
    assert hook["timestamp_tolerance_seconds"] == 300
    assert (await api.call("GET", path)).body == hook
    listed = await api.call("GET", base)
    assert (listed.body["items"], listed.body["total"]) == ([hook], 1)


async def test_create_with_every_field(api: OperatorApi, factory: Factory) -> None:
    board = await api.board()
    agent = await factory.agent(uuid.UUID(board["id"]))
    hook = await api.webhook(
        board["id"],
        description="Stripe",
        enabled=False,
        agent_id=str(agent.id),
        secret=secrets.token_hex(16),
        signature_header="X-Custom_Sig.v2",
        signature_scheme="stripe",
        timestamp_tolerance_seconds=60,
    )
    assert hook["agent_id"] == str(agent.id)
    assert (hook["enabled"], hook["has_secret"]) == (False, True)
    assert (hook["signature_header"], hook["signature_scheme"]) == ("X-Custom_Sig.v2", "stripe")
    assert hook["timestamp_tolerance_seconds"] == 60


async def test_endpoint_url_is_null_without_base_url(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, db: asyncpg.Pool
) -> None:
    settings = make_settings(database_url, local_token, base_url=None)
    client = await aiohttp_client(create_app(settings))
    api = OperatorApi(client, local_token)
    board = await api.board()
    hook = await api.webhook(board["id"])
    assert hook["endpoint_url"] is None
    assert hook["endpoint_path"] == f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"signature_scheme": "md5"}, "signature_scheme"),
        ({"signature_scheme": None}, "signature_scheme"),
        ({"signature_header": "X Bad"}, "signature_header"),
        ({"signature_header": "a:b"}, "signature_header"),
        ({"signature_header": ""}, "signature_header"),
        ({"signature_header": "X-Sig\r\nX-Evil"}, "signature_header"),
        ({"signature_header": "Sígnature"}, "signature_header"),
        ({"signature_header": 5}, "signature_header"),
        ({"enabled": "yes"}, "enabled"),
        ({"enabled": 0}, "enabled"),
        ({"description": 5}, "description"),
        ({"agent_id": "not-an-id"}, "agent_id"),
        ({"agent_id": 5}, "agent_id"),
        ({"agent_id": str(uuid.uuid4())}, "agent_id"),
        ({"secret": 5}, "secret"),
        ({"timestamp_tolerance_seconds": 0}, "timestamp_tolerance_seconds"),
        ({"timestamp_tolerance_seconds": 86_401}, "timestamp_tolerance_seconds"),
        ({"timestamp_tolerance_seconds": "300"}, "timestamp_tolerance_seconds"),
        ({"signature_scheme": "standard-webhooks", "secret": "whsec_not base64!"}, "secret"),
        ({"endpoint_url": "http://elsewhere"}, "endpoint_url"),
        ({"description": "a\x00b"}, "description"),
        ({"secret": "a\x00b"}, "secret"),
    ],
)
async def test_bad_webhook_bodies_are_422_with_field_details(
    api: OperatorApi, db: asyncpg.Pool, body: dict[str, Any], field: str
) -> None:
    board = await api.board()
    reply = await api.call("POST", f"/api/v1/boards/{board['id']}/webhooks", body)
    assert reply.status == 422, reply
    assert field in _fields(reply.body)
    assert await db.fetchval("SELECT count(*) FROM webhooks") == 0


async def test_agent_must_belong_to_the_same_board(api: OperatorApi, factory: Factory) -> None:
    board = await api.board()
    other = await factory.board()
    stranger = await factory.agent(other)
    mine = await factory.agent(uuid.UUID(board["id"]))
    base = f"/api/v1/boards/{board['id']}/webhooks"
    reply = await api.call("POST", base, {"agent_id": str(stranger.id)})
    assert reply.status == 422
    assert _fields(reply.body) == {"agent_id"}

    hook = await api.webhook(board["id"], agent_id=str(mine.id))
    path = f"{base}/{hook['id']}"
    reply = await api.call("PATCH", path, {"agent_id": str(stranger.id)})
    assert reply.status == 422
    assert _fields(reply.body) == {"agent_id"}
    assert (await api.call("GET", path)).body["agent_id"] == str(mine.id)
    cleared = await api.call("PATCH", path, {"agent_id": None})
    assert (cleared.status, cleared.body["agent_id"]) == (200, None)
    again = await api.call("PATCH", path, {"agent_id": str(mine.id)})
    assert again.body["agent_id"] == str(mine.id)


async def test_patch_changes_only_what_is_sent(api: OperatorApi, db: asyncpg.Pool) -> None:
    board = await api.board()
    secret = secrets.token_hex(16)
    hook = await api.webhook(board["id"], description="a", secret=secret, signature_header="X-S")
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    patched = await api.call("PATCH", path, {"description": "b", "timestamp_tolerance_seconds": 9})
    assert patched.status == 200
    body = patched.body
    assert (body["description"], body["timestamp_tolerance_seconds"]) == ("b", 9)
    assert (body["has_secret"], body["signature_header"]) == (True, "X-S")
    assert body["updated_at"] > hook["updated_at"]
    assert await db.fetchval("SELECT secret FROM webhooks") == secret

    cleared = await api.call("PATCH", path, {"signature_header": None})
    assert cleared.body["signature_header"] is None
    scheme = await api.call("PATCH", path, {"signature_scheme": "slack"})
    assert scheme.body["signature_scheme"] == "slack"
    unchanged = await api.call("PATCH", path, {})
    assert unchanged.status == 200
    assert unchanged.body["description"] == "b"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enabled": None}, "enabled"),
        ({"description": None}, "description"),
        ({"signature_scheme": None}, "signature_scheme"),
        ({"timestamp_tolerance_seconds": None}, "timestamp_tolerance_seconds"),
        ({"signature_scheme": "sha1"}, "signature_scheme"),
        ({"signature_header": "X Bad"}, "signature_header"),
        ({"signature_header": "a:b"}, "signature_header"),
        ({"enabled": "false"}, "enabled"),
        ({"has_secret": False}, "has_secret"),
        # An hmac secret already set is not base64 key material for standard-webhooks.
        ({"signature_scheme": "standard-webhooks"}, "secret"),
    ],
)
async def test_bad_patches_are_422_and_change_nothing(
    api: OperatorApi, body: dict[str, Any], field: str
) -> None:
    board = await api.board()
    hook = await api.webhook(board["id"], secret="x" + secrets.token_hex(16) + "!")
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    reply = await api.call("PATCH", path, body)
    assert reply.status == 422, reply
    assert field in _fields(reply.body)
    assert (await api.call("GET", path)).body == hook


async def test_standard_webhooks_secret_must_be_base64(api: OperatorApi) -> None:
    board = await api.board()
    key = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    hook = await api.webhook(board["id"], signature_scheme="standard-webhooks", secret=key)
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    bad = await api.call("POST", f"{path}/rotate-secret", {"secret": "not base64!"})
    assert bad.status == 422
    assert _fields(bad.body) == {"secret"}
    bad = await api.call("PATCH", path, {"secret": "not base64!"})
    assert bad.status == 422
    good = await api.call("POST", f"{path}/rotate-secret", {"secret": key[6:]})
    assert good.status == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"secret": ""},
        {"secret": 5},
        {"secret": "s", "grace_seconds": -1},
        {"secret": "s", "grace_seconds": 7 * 86_400 + 1},
        {"secret": "s", "grace_seconds": "60"},
        {"secret": "s", "grace_seconds": 1.5},
        {"secret": "s", "previous": "x"},
    ],
)
async def test_bad_rotations_are_422(api: OperatorApi, body: dict[str, Any]) -> None:
    board = await api.board()
    hook = await api.webhook(board["id"])
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}/rotate-secret"
    assert (await api.call("POST", path, body)).status == 422


async def test_rotation_records_the_grace_period(api: OperatorApi, db: asyncpg.Pool) -> None:
    board = await api.board()
    old, new, newer = (secrets.token_hex(16) for _ in range(3))
    hook = await api.webhook(board["id"], secret=old)
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    rotated = await api.call("POST", f"{path}/rotate-secret", {"secret": new, "grace_seconds": 600})
    assert rotated.status == 200
    assert rotated.body["has_secret"] is True
    assert rotated.body["previous_secret_expires_at"] is not None
    row = await db.fetchrow(
        "SELECT secret, previous_secret,"
        " previous_secret_expires_at - now() BETWEEN interval '590 s' AND interval '600 s' AS ok"
        " FROM webhooks"
    )
    assert row is not None
    assert (row["secret"], row["previous_secret"], row["ok"]) == (new, old, True)
    # Setting a secret by PATCH replaces it at once: no grace for the one before.
    patched = await api.call("PATCH", path, {"secret": newer})
    assert patched.body["previous_secret_expires_at"] is None
    row = await db.fetchrow("SELECT secret, previous_secret FROM webhooks")
    assert row is not None
    assert (row["secret"], row["previous_secret"]) == (newer, None)
    # No grace asked: the old secret is not kept at all.
    await api.call("POST", f"{path}/rotate-secret", {"secret": old, "grace_seconds": 0})
    row = await db.fetchrow("SELECT secret, previous_secret FROM webhooks")
    assert row is not None
    assert (row["secret"], row["previous_secret"]) == (old, None)


async def test_webhooks_of_another_board_or_unknown_ids_are_404(
    api: OperatorApi, factory: Factory
) -> None:
    board = await factory.board()
    other = await factory.board()
    hook = await factory.webhook(board)
    for path in (
        f"/api/v1/boards/{other}/webhooks/{hook}",
        f"/api/v1/boards/{board}/webhooks/{uuid.uuid4()}",
        f"/api/v1/boards/{board}/webhooks/not-an-id",
        f"/api/v1/boards/not-an-id/webhooks/{hook}",
    ):
        assert (await api.call("GET", path)).status == 404, path
        assert (await api.call("PATCH", path, {"description": "x"})).status == 404, path
        rotate = await api.call("POST", f"{path}/rotate-secret", {"secret": "abc"})
        assert rotate.status == 404, path
        assert (await api.call("DELETE", path)).status == 404, path
    assert (await api.call("GET", f"/api/v1/boards/{board}/webhooks/{hook}")).status == 200
    for base in (f"/api/v1/boards/{uuid.uuid4()}/webhooks", "/api/v1/boards/x/webhooks"):
        assert (await api.call("GET", base)).status == 404
        assert (await api.call("POST", base, {})).status == 404


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=-1", "limit=abc", "offset=-1"])
async def test_webhook_list_paging_out_of_range_is_422(api: OperatorApi, query: str) -> None:
    board = await api.board()
    reply = await api.call("GET", f"/api/v1/boards/{board['id']}/webhooks?{query}")
    assert reply.status == 422


async def test_the_secret_is_never_in_any_answer(
    api: OperatorApi, client: Client, settings: Any
) -> None:
    board = await api.board()
    first, second = secrets.token_hex(16), secrets.token_hex(16)
    base = f"/api/v1/boards/{board['id']}/webhooks"
    hook = await api.webhook(board["id"], secret=first, description="leak check")
    path = f"{base}/{hook['id']}"
    # Refusals too: a 422 never echoes the input.
    await api.call("POST", base, {"secret": first, "signature_scheme": "md5"})
    await api.call("POST", base, {"secret": first, "nope": first})
    await api.call("POST", f"{path}/rotate-secret", {"secret": second, "grace_seconds": -5})
    await api.call("PATCH", path, {"secret": second, "enabled": "no"})
    await api.call("GET", base)
    await api.call("GET", path)
    await api.call("PATCH", path, {"description": "still secret"})
    await api.call("POST", f"{path}/rotate-secret", {"secret": second, "grace_seconds": 60})
    # Signed with the previous secret: valid in its grace period whether or not this process's
    # config cache has seen the rotation yet (it refreshes within a second).
    accepted = await deliver(client, board["id"], hook["id"], secret=first)
    assert accepted.status == 202
    await drain_queue(settings)
    assert (await api.call("GET", f"{path}/payloads")).body["total"] == 1
    stored = await api.call("GET", f"{path}/payloads/{accepted.body['payload_id']}")
    assert stored.status == 200
    assert len(api.texts) == 12
    for text in api.texts:
        assert first not in text
        assert second not in text
