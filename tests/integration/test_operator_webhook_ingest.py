"""Operator changes to webhooks hold for ingest: new, disabled, deleted, re-keyed."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import pytest

from tests.support.operator_api import Client, OperatorApi, deliver, eventually, sign


@pytest.fixture
def api(client: Client, local_token: str) -> OperatorApi:
    return OperatorApi(client, local_token)


def answers(
    client: Client, board: str, hook: str, status: int, secret: str | None = None
) -> Callable[[], Awaitable[bool]]:
    """A check that ingest answers `status` to a delivery signed with `secret`."""

    async def check() -> bool:
        return (await deliver(client, board, hook, secret=secret)).status == status

    return check


async def test_a_new_webhook_takes_a_delivery_at_once(api: OperatorApi, client: Client) -> None:
    board = await api.board()
    hook = await api.webhook(board["id"])
    reply = await deliver(client, board["id"], hook["id"])
    assert reply.status == 202
    assert reply.body["webhook_id"] == hook["id"]


async def test_disable_and_enable_hold_within_seconds(api: OperatorApi, client: Client) -> None:
    board = await api.board()
    hook = await api.webhook(board["id"])
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    assert (await deliver(client, board["id"], hook["id"])).status == 202
    assert (await api.call("PATCH", path, {"enabled": False})).body["enabled"] is False
    await eventually(answers(client, board["id"], hook["id"], 410), timeout=5)
    refused = await deliver(client, board["id"], hook["id"])
    assert refused.body["detail"] == "Webhook is disabled."
    await api.call("PATCH", path, {"enabled": True})
    await eventually(answers(client, board["id"], hook["id"], 202), timeout=5)


async def test_delete_holds_within_seconds(api: OperatorApi, client: Client) -> None:
    board = await api.board()
    hook = await api.webhook(board["id"])
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    assert (await deliver(client, board["id"], hook["id"])).status == 202
    assert (await api.call("DELETE", path)).status == 204
    await eventually(answers(client, board["id"], hook["id"], 404), timeout=5)
    assert (await api.call("GET", path)).status == 404


async def test_deleting_the_board_ends_its_webhooks(api: OperatorApi, client: Client) -> None:
    board = await api.board()
    hook = await api.webhook(board["id"])
    assert (await deliver(client, board["id"], hook["id"])).status == 202
    assert (await api.call("DELETE", f"/api/v1/boards/{board['id']}")).status == 204
    await eventually(answers(client, board["id"], hook["id"], 404), timeout=5)


async def test_clearing_the_secret_accepts_unsigned_deliveries(
    api: OperatorApi, client: Client
) -> None:
    board = await api.board()
    hook = await api.webhook(board["id"], secret=secrets.token_hex(16))
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    unsigned = await deliver(client, board["id"], hook["id"])
    assert (unsigned.status, unsigned.body["detail"]) == (403, "Missing webhook signature header.")
    cleared = await api.call("PATCH", path, {"secret": ""})
    assert cleared.body["has_secret"] is False
    assert (await api.call("GET", path)).body["has_secret"] is False
    await eventually(answers(client, board["id"], hook["id"], 202), timeout=5)


async def test_null_secret_clears_too(api: OperatorApi, client: Client) -> None:
    board = await api.board()
    hook = await api.webhook(board["id"], secret=secrets.token_hex(16))
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    assert (await api.call("PATCH", path, {"secret": None})).body["has_secret"] is False
    await eventually(answers(client, board["id"], hook["id"], 202), timeout=5)


async def test_setting_a_secret_by_patch_replaces_the_old_one_at_once(
    api: OperatorApi, client: Client
) -> None:
    board = await api.board()
    old, new = secrets.token_hex(16), secrets.token_hex(16)
    hook = await api.webhook(board["id"])
    path = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    assert (await api.call("PATCH", path, {"secret": old})).body["has_secret"] is True
    await eventually(answers(client, board["id"], hook["id"], 403), timeout=5)
    assert (await deliver(client, board["id"], hook["id"], secret=old)).status == 202
    await api.call("PATCH", path, {"secret": new})
    await eventually(answers(client, board["id"], hook["id"], 202, new), timeout=5)
    assert (await deliver(client, board["id"], hook["id"], secret=old)).status == 403


async def test_rotation_keeps_the_old_secret_for_the_grace_period(
    api: OperatorApi, client: Client
) -> None:
    board = await api.board()
    first, second, third, fourth = (secrets.token_hex(16) for _ in range(4))
    hook = await api.webhook(board["id"], secret=first)
    b, h = board["id"], hook["id"]
    rotate = f"/api/v1/boards/{b}/webhooks/{h}/rotate-secret"
    assert (await deliver(client, b, h, secret=first)).status == 202

    # A long grace: both secrets pass.
    reply = await api.call("POST", rotate, {"secret": second, "grace_seconds": 3600})
    assert reply.status == 200
    await eventually(answers(client, b, h, 202, second), timeout=5)
    assert (await deliver(client, b, h, secret=first)).status == 202
    assert (await deliver(client, b, h, secret=secrets.token_hex(16))).status == 403

    # A short grace: the previous secret stops passing once it is over; the first is gone.
    await api.call("POST", rotate, {"secret": third, "grace_seconds": 1})
    await eventually(answers(client, b, h, 202, third), timeout=5)
    await eventually(answers(client, b, h, 403, first), timeout=5)
    await eventually(answers(client, b, h, 403, second), timeout=10)
    assert (await deliver(client, b, h, secret=third)).status == 202

    # No grace: the old secret stops at once (as soon as the change is seen).
    await api.call("POST", rotate, {"secret": fourth, "grace_seconds": 0})
    await eventually(answers(client, b, h, 202, fourth), timeout=5)
    assert (await deliver(client, b, h, secret=third)).status == 403


async def test_rotating_a_webhook_without_a_secret_sets_one(
    api: OperatorApi, client: Client
) -> None:
    board = await api.board()
    secret = secrets.token_hex(16)
    hook = await api.webhook(board["id"])
    rotate = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}/rotate-secret"
    reply = await api.call("POST", rotate, {"secret": secret, "grace_seconds": 60})
    assert (reply.body["has_secret"], reply.body["previous_secret_expires_at"]) == (True, None)
    await eventually(answers(client, board["id"], hook["id"], 403), timeout=5)
    assert (await deliver(client, board["id"], hook["id"], secret=secret)).status == 202


async def test_a_custom_signature_header_is_the_one_read(api: OperatorApi, client: Client) -> None:
    board = await api.board()
    secret = secrets.token_hex(16)
    hook = await api.webhook(board["id"], secret=secret, signature_header="X-Acme-Sig")
    body = b'{"event": "custom"}'

    url = f"/api/v1/boards/{board['id']}/webhooks/{hook['id']}"
    default_header = await client.post(
        url, data=body, headers={"X-Hub-Signature-256": sign(secret, body)}
    )
    assert default_header.status == 403
    custom = await client.post(url, data=body, headers={"X-Acme-Sig": sign(secret, body)})
    assert custom.status == 202
