"""Operator API: a webhook's stored deliveries, newest first, filtered by status."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.payloads import decode_payload, storable_json
from shared.queries.deliveries import PersistRow, persist_failed, persist_processed
from shared.settings import Settings
from tests.support.factories import Factory
from tests.support.operator_api import Client, OperatorApi, deliver, sign
from tests.support.workers import drain_queue

DELIVERY_FIELDS = {
    "id",
    "board_id",
    "webhook_id",
    "payload",
    "headers",
    "source_ip",
    "content_type",
    "received_at",
    "status",
    "attempts",
    "last_error",
    "processed_at",
}
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def api(client: Client, local_token: str) -> OperatorApi:
    return OperatorApi(client, local_token)


async def store(
    db: asyncpg.Pool,
    board_id: uuid.UUID,
    webhook_id: uuid.UUID,
    *,
    minute: int,
    failed: bool = False,
    body: bytes = b'{"n": 1}',
) -> str:
    """Write one delivery as a worker would, received `minute` minutes after T0."""
    content_type = "application/json"
    row = PersistRow(
        payload_id=uuid.uuid4(),
        board_id=board_id,
        webhook_id=webhook_id,
        raw_body=body,
        payload=storable_json(decode_payload(body, content_type)),
        headers={"content-type": content_type},
        source_ip="203.0.113.7",
        content_type=content_type,
        sender_delivery_id=None,
        received_at=T0 + timedelta(minutes=minute),
        attempts=3 if failed else 1,
        memory_content="memory",
        task_title="task",
        task_description="",
    )
    async with db.acquire() as conn:
        if failed:
            await persist_failed(conn, row, "downstream exploded")
        else:
            await persist_processed(conn, [row])
    return str(row.payload_id)


async def test_a_delivery_is_404_until_stored_then_shown_whole(
    api: OperatorApi, client: Client, factory: Factory, settings: Settings
) -> None:
    board = await factory.board()
    secret = secrets.token_hex(16)
    hook = await factory.webhook(board, secret=secret)
    body = b'{"action": "opened", "number": 7}'
    response = await client.post(
        f"/api/v1/boards/{board}/webhooks/{hook}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(secret, body),
            "X-GitHub-Event": "issues",
        },
    )
    assert response.status == 202
    payload_id = (await response.json())["payload_id"]
    path = f"/api/v1/boards/{board}/webhooks/{hook}/payloads/{payload_id}"
    assert (await api.call("GET", path)).status == 404

    await drain_queue(settings)
    reply = await api.call("GET", path)
    assert reply.status == 200
    delivery = reply.body
    assert set(delivery) == DELIVERY_FIELDS | {"history"}  # one delivery also shows its tries
    assert [(h["kind"], h["outcome"], h["attempt"]) for h in delivery["history"]] == [
        ("delivery", "processed", 1)
    ]
    assert (delivery["id"], delivery["board_id"], delivery["webhook_id"]) == (
        payload_id,
        str(board),
        str(hook),
    )
    assert delivery["payload"] == {"action": "opened", "number": 7}
    assert delivery["headers"]["x-github-event"] == "issues"
    assert "x-hub-signature-256" not in delivery["headers"]
    assert delivery["source_ip"] == "127.0.0.1"
    assert delivery["content_type"] == "application/json"
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
        "processed",
        1,
        None,
    )
    assert delivery["received_at"] is not None
    assert delivery["processed_at"] is not None
    listed = await api.call("GET", f"/api/v1/boards/{board}/webhooks/{hook}/payloads")
    listed_one = {k: v for k, v in delivery.items() if k != "history"}
    assert (listed.body["items"], listed.body["total"]) == ([listed_one], 1)


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"text": "a\\u0000b"}', "application/json", {"text": "a\x00b"}),
        (b"hello\x00world", "text/plain", "hello\x00world"),
        (b"", "application/json", {}),
        (b"plain words", "text/plain", "plain words"),
    ],
)
async def test_payload_is_decoded_from_the_raw_body(
    api: OperatorApi,
    client: Client,
    factory: Factory,
    settings: Settings,
    db: asyncpg.Pool,
    body: bytes,
    content_type: str,
    expected: object,
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    accepted = await deliver(client, board, hook, body, content_type=content_type)
    assert accepted.status == 202
    await drain_queue(settings)
    payload_id = accepted.body["payload_id"]
    reply = await api.call("GET", f"/api/v1/boards/{board}/webhooks/{hook}/payloads/{payload_id}")
    assert reply.status == 200
    assert reply.body["payload"] == expected
    if "\x00" in str(expected):  # PostgreSQL could not hold it; the API still shows it
        assert await db.fetchval("SELECT payload FROM webhook_payloads") is None


async def test_list_is_newest_first_and_filters_by_status(
    api: OperatorApi, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    ids = {
        minute: await store(db, board, hook, minute=minute, failed=minute in (2, 4))
        for minute in (3, 1, 4, 2, 5)
    }
    base = f"/api/v1/boards/{board}/webhooks/{hook}/payloads"
    everything = await api.call("GET", base)
    assert [d["id"] for d in everything.body["items"]] == [ids[m] for m in (5, 4, 3, 2, 1)]
    assert everything.body["total"] == 5

    failed = await api.call("GET", f"{base}?status=failed")
    assert [d["id"] for d in failed.body["items"]] == [ids[4], ids[2]]
    assert failed.body["total"] == 2
    assert {(d["status"], d["last_error"], d["attempts"]) for d in failed.body["items"]} == {
        ("failed", "downstream exploded", 3)
    }
    assert all(d["processed_at"] is None for d in failed.body["items"])

    processed = await api.call("GET", f"{base}?status=processed&limit=1&offset=1")
    assert [d["id"] for d in processed.body["items"]] == [ids[3]]
    assert (processed.body["total"], processed.body["limit"], processed.body["offset"]) == (3, 1, 1)
    assert (await api.call("GET", f"{base}?status=")).body["total"] == 5


@pytest.mark.parametrize(
    "query",
    [
        "status=queued",
        "status=PROCESSED",
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=abc",
        "offset=-1",
    ],
)
async def test_bad_list_queries_are_422(api: OperatorApi, factory: Factory, query: str) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    reply = await api.call("GET", f"/api/v1/boards/{board}/webhooks/{hook}/payloads?{query}")
    assert reply.status == 422
    assert reply.body["errors"][0]["loc"][0] == "query"


async def test_deliveries_of_another_webhook_or_board_are_404(
    api: OperatorApi, factory: Factory, db: asyncpg.Pool
) -> None:
    board, other_board = await factory.board(), await factory.board()
    hook, sibling = await factory.webhook(board), await factory.webhook(board)
    stranger = await factory.webhook(other_board)
    payload_id = await store(db, board, hook, minute=1)
    assert (
        await api.call("GET", f"/api/v1/boards/{board}/webhooks/{hook}/payloads/{payload_id}")
    ).status == 200
    for path in (
        f"/api/v1/boards/{board}/webhooks/{sibling}/payloads/{payload_id}",
        f"/api/v1/boards/{other_board}/webhooks/{hook}/payloads/{payload_id}",
        f"/api/v1/boards/{other_board}/webhooks/{stranger}/payloads/{payload_id}",
        f"/api/v1/boards/{board}/webhooks/{hook}/payloads/{uuid.uuid4()}",
        f"/api/v1/boards/{board}/webhooks/{hook}/payloads/not-an-id",
        f"/api/v1/boards/{board}/webhooks/not-an-id/payloads/{payload_id}",
    ):
        assert (await api.call("GET", path)).status == 404, path
    for path in (
        f"/api/v1/boards/{other_board}/webhooks/{hook}/payloads",
        f"/api/v1/boards/{board}/webhooks/{stranger}/payloads",
        f"/api/v1/boards/{board}/webhooks/{uuid.uuid4()}/payloads",
    ):
        assert (await api.call("GET", path)).status == 404, path
    empty = await api.call("GET", f"/api/v1/boards/{board}/webhooks/{sibling}/payloads")
    assert (empty.status, empty.body["total"]) == (200, 0)
