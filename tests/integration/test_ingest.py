"""The ingest route: every check in the contract's order, and nothing stored past a failure."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from redis.asyncio import Redis

from shared.jobs import JOB_KEY_PREFIX, deserialize_job
from shared.settings import Settings
from tests.support.factories import Factory
from tests.support.http import Client, github_signature, ingest_path

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# aiohttp's client warns when given a body over 1 MiB as bytes; these tests mean to.
large_body = pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")


async def queued(settings: Settings) -> int:
    """Jobs waiting in the test's queue."""
    redis = Redis.from_url(settings.rq_redis_url)
    try:
        return int(await redis.zcard(settings.queue_name))
    finally:
        await redis.aclose()


@pytest.fixture
async def github_hook(factory: Factory) -> tuple[uuid.UUID, uuid.UUID]:
    board = await factory.board()
    return board, await factory.webhook(board, secret=GITHUB_SECRET)


async def test_githubs_published_example_is_accepted(
    client: Client, github_hook: tuple[uuid.UUID, uuid.UUID], settings: Settings
) -> None:
    board, hook = github_hook
    response = await client.post(
        ingest_path(board, hook),
        data=GITHUB_BODY,
        headers={"X-Hub-Signature-256": GITHUB_SIGNATURE},
    )
    assert response.status == 202
    answer = await response.json()
    assert answer["ok"] is True
    assert answer["board_id"] == str(board)
    assert answer["webhook_id"] == str(hook)
    uuid.UUID(answer["payload_id"])
    assert await queued(settings) == 1


async def test_the_payload_id_is_a_uuid7_of_the_moment_of_receipt(
    client: Client, github_hook: tuple[uuid.UUID, uuid.UUID], settings: Settings
) -> None:
    # Time-ordered payload ids keep the payload table's indexes append-mostly
    # (docs/performance.md); the milliseconds are those the job records as received.
    board, hook = github_hook
    before_ms = int(time.time() * 1000)
    ids = []
    for _ in range(3):
        response = await client.post(
            ingest_path(board, hook),
            data=GITHUB_BODY,
            headers={"X-Hub-Signature-256": GITHUB_SIGNATURE},
        )
        assert response.status == 202
        ids.append((await response.json())["payload_id"])
    after_ms = int(time.time() * 1000)
    redis = Redis.from_url(settings.rq_redis_url)
    try:
        for payload_id in ids:
            parsed = uuid.UUID(payload_id)
            assert parsed.version == 7
            received_ms = parsed.int >> 80
            assert before_ms <= received_ms <= after_ms
            job = deserialize_job(await redis.get(f"{JOB_KEY_PREFIX}{payload_id}"))
            assert job["a"][0]["r"] == received_ms
    finally:
        await redis.aclose()
    received = [uuid.UUID(i).int >> 80 for i in ids]
    assert received == sorted(received)  # later deliveries, later ids


async def test_one_changed_byte_is_an_invalid_signature(
    client: Client, github_hook: tuple[uuid.UUID, uuid.UUID], settings: Settings
) -> None:
    board, hook = github_hook
    response = await client.post(
        ingest_path(board, hook),
        data=b"Hello, World?",
        headers={"X-Hub-Signature-256": GITHUB_SIGNATURE},
    )
    assert response.status == 403
    body = await response.json()
    assert body["detail"] == "Invalid webhook signature."
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert await queued(settings) == 0


async def test_missing_signature_header(
    client: Client, github_hook: tuple[uuid.UUID, uuid.UUID], settings: Settings
) -> None:
    board, hook = github_hook
    response = await client.post(ingest_path(board, hook), data=GITHUB_BODY)
    assert response.status == 403
    assert (await response.json())["detail"] == "Missing webhook signature header."
    assert await queued(settings) == 0


async def test_x_webhook_signature_is_the_fallback_header(
    client: Client, github_hook: tuple[uuid.UUID, uuid.UUID]
) -> None:
    board, hook = github_hook
    signature = GITHUB_SIGNATURE.removeprefix("sha256=")
    response = await client.post(
        ingest_path(board, hook), data=GITHUB_BODY, headers={"X-Webhook-Signature": signature}
    )
    assert response.status == 202


async def test_custom_signature_header_is_the_only_one_read(
    client: Client, factory: Factory
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board, secret=GITHUB_SECRET, signature_header="X-Acme-Signature")
    path = ingest_path(board, hook)
    ignored = await client.post(
        path, data=GITHUB_BODY, headers={"X-Hub-Signature-256": GITHUB_SIGNATURE}
    )
    assert ignored.status == 403
    assert (await ignored.json())["detail"] == "Missing webhook signature header."
    honoured = await client.post(
        path, data=GITHUB_BODY, headers={"X-Acme-Signature": GITHUB_SIGNATURE}
    )
    assert honoured.status == 202


async def test_webhook_without_secret_takes_unsigned_deliveries(
    client: Client, factory: Factory
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    response = await client.post(ingest_path(board, hook), json={"a": 1})
    assert response.status == 202


async def test_unknown_board_or_webhook_is_404(
    client: Client, factory: Factory, settings: Settings
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    other_board = await factory.board("other")
    for path in (
        ingest_path(board, uuid.uuid4()),
        ingest_path(uuid.uuid4(), hook),
        ingest_path(other_board, hook),
        ingest_path(board, "not-a-uuid"),
        ingest_path("nope", hook),
    ):
        response = await client.post(path, data=b"{}")
        assert response.status == 404, path
        assert (await response.json())["detail"] == "Webhook not found."
    assert await queued(settings) == 0


async def test_disabled_webhook_is_410_and_nothing_is_stored(
    client: Client, factory: Factory, settings: Settings
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board, enabled=False)
    response = await client.post(ingest_path(board, hook), data=b'{"a": 1}')
    assert response.status == 410
    assert (await response.json())["detail"] == "Webhook is disabled."
    assert await queued(settings) == 0


@large_body
async def test_body_one_byte_over_the_limit_is_413(
    client: Client, github_hook: tuple[uuid.UUID, uuid.UUID], settings: Settings
) -> None:
    board, hook = github_hook
    body = b"x" * 1_048_577
    response = await client.post(
        ingest_path(board, hook),
        data=body,
        headers={"X-Hub-Signature-256": github_signature(GITHUB_SECRET, body)},
    )
    assert response.status == 413
    assert await queued(settings) == 0


@large_body
async def test_body_at_the_limit_is_accepted(client: Client, factory: Factory) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    response = await client.post(ingest_path(board, hook), data=b"x" * 1_048_576)
    assert response.status == 202


async def test_declared_content_length_over_the_limit_is_413_before_reading(
    client: Client, factory: Factory, settings: Settings
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    response = await client.post(
        ingest_path(board, hook), data=b"small", headers={"Content-Length": "2000000"}
    )
    assert response.status == 413
    assert await queued(settings) == 0


async def test_chunked_body_over_the_limit_is_413(
    client: Client, factory: Factory, settings: Settings
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"y" * 32_768

    response = await client.post(ingest_path(board, hook), data=chunks())
    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    assert response.status == 413
    assert await queued(settings) == 0


@large_body
async def test_checks_run_in_order_disabled_before_size_and_signature(
    client: Client, factory: Factory
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board, enabled=False, secret="s")
    response = await client.post(ingest_path(board, hook), data=b"x" * 2_000_000)
    assert response.status == 410


@large_body
async def test_size_is_checked_before_the_signature(
    client: Client, github_hook: tuple[uuid.UUID, uuid.UUID]
) -> None:
    board, hook = github_hook
    response = await client.post(ingest_path(board, hook), data=b"x" * 1_048_577)
    assert response.status == 413


async def test_secret_and_credential_headers_are_not_kept(
    client: Client, github_hook: tuple[uuid.UUID, uuid.UUID], settings: Settings, db: asyncpg.Pool
) -> None:
    from tests.support.workers import drain_queue

    board, hook = github_hook
    response = await client.post(
        ingest_path(board, hook),
        data=GITHUB_BODY,
        headers={
            "X-Hub-Signature-256": GITHUB_SIGNATURE,
            "Authorization": "Bearer nope",
            "Cookie": "session=1",
            "X-Agent-Token": "mca_nope",
            "X-GitHub-Event": "ping",
        },
    )
    payload_id = (await response.json())["payload_id"]
    await drain_queue(settings)
    headers = await db.fetchval(
        "SELECT headers FROM webhook_payloads WHERE id = $1", uuid.UUID(payload_id)
    )
    assert headers["x-github-event"] == "ping"
    assert not {"x-hub-signature-256", "authorization", "cookie", "x-agent-token"} & set(headers)
