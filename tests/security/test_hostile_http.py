"""Requests no client library would send, over a raw socket: never a 5xx, never a hang."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from shared.settings import Settings
from tests.conftest import make_settings
from tests.security.conftest import Target, assert_still_serving
from tests.support.http import Client
from tests.support.operator_api import sign
from tests.support.raw_http import RawResponse, raw_request, request_head, trickle_request
from tests.support.workers import drain_queue


def port_of(client: Client) -> int:
    """The test server's TCP port."""
    port = client.server.port
    assert port is not None
    return port


def check_raw(response: RawResponse) -> None:
    """No 5xx; an answer from the app (it carries X-Request-Id) is a JSON error body."""
    assert not 500 <= response.status < 600, (response.status, response.body[:300])
    if response.status >= 400 and "x-request-id" in response.headers:
        body: Any = response.json()
        assert isinstance(body["detail"], str)
        assert body["request_id"] == response.headers["x-request-id"]


@pytest.fixture
async def slow_client(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, db: asyncpg.Pool
) -> Client:
    """The app with a one-second body read timeout."""
    settings = make_settings(database_url, local_token, ingress_read_timeout_seconds=1)
    return await aiohttp_client(create_app(settings))


async def test_a_64_kib_header_value_is_refused_by_the_http_layer(
    client: Client, target: Target
) -> None:
    for name in ("X-Big", "X-Request-Id", "Authorization", "X-Hub-Signature-256"):
        head = request_head(
            "POST", target.ingest, [("Host", "x"), (name, "a" * 65_536), ("Content-Length", "0")]
        )
        response = await raw_request(port_of(client), head)
        assert response.status in (400, 431), name
    await assert_still_serving(client, target)


async def test_hundreds_of_headers_are_answered_without_a_5xx(
    client: Client, target: Target
) -> None:
    body = b'{"many": "headers"}'
    many = [(f"X-Fuzz-{i}", "v" * 50) for i in range(500)]
    signed = [("X-Hub-Signature-256", sign(target.secret, body)), ("Content-Type", "text/plain")]
    for path in (target.ingest, f"/api/v1/boards/{target.board}", "/api/v1/agent/healthz"):
        headers = [("Host", "x"), *many, *signed, ("Content-Length", str(len(body)))]
        check_raw(await raw_request(port_of(client), request_head("POST", path, headers), body))
    await assert_still_serving(client, target)


BAD_PATHS = [
    "/api/v1/boards/%zz/webhooks/%zz",
    "/api/v1/boards/%00/webhooks/%00",
    "/api/v1/boards/%C0%AE%C0%AE/webhooks/%E0%80%80",
    "/api/v1/boards/%ff%fe/tasks",
    "/api/v1/agent/boards/%0A%0D/tasks",
    "/api/v1/boards/{board}/webhooks/%",
    "/api/v1/boards/{board}/webhooks/{webhook}%00",
    "/api/v1/boards/{board}/webhooks/..%2F..%2F",
    "/api/v1/boards/{board}/webhooks/" + "9" * 5000,
    "/api/v1/boards/{board}/webhooks/{webhook}?%zz=%zz&limit=%00",
    "/%",
    "//",
    "/api/v1/boards/\x7f",
    "/api/v1/boards/\u00e9\u4e2d",
    "*",
    "http://evil.example/api/v1/boards",
]


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
async def test_bad_percent_encoding_and_odd_targets(
    client: Client, target: Target, method: str
) -> None:
    token = ("Authorization", f"Bearer {target.operator_token}")
    for template in BAD_PATHS:
        path = template.format(board=target.board, webhook=target.webhook)
        head = request_head(method, path, [("Host", "x"), token, ("Content-Length", "2")])
        response = await raw_request(port_of(client), head, b"{}")
        check_raw(response)
        assert response.status != 0, path
    await assert_still_serving(client, target)


BAD_LENGTHS = [
    "-1",
    "-100000000000000000000",
    "99999999999999999999999999999999",
    "abc",
    "1e3",
    "+5",
    "0x10",
    "5, 6",
    "",
]


@pytest.mark.parametrize("length", BAD_LENGTHS)
async def test_bad_content_length_is_refused(client: Client, target: Target, length: str) -> None:
    token = ("Authorization", f"Bearer {target.operator_token}")
    for path in (target.ingest, "/api/v1/boards", f"/api/v1/agent/boards/{target.board}/tasks"):
        head = request_head("POST", path, [("Host", "x"), token, ("Content-Length", length)])
        response = await raw_request(port_of(client), head, b"{}")
        check_raw(response)
        assert 400 <= response.status < 500 or response.status == 0, (path, length)
    await assert_still_serving(client, target)


async def test_conflicting_length_headers_are_refused(client: Client, target: Target) -> None:
    for headers in (
        [("Content-Length", "2"), ("Content-Length", "3")],
        [("Content-Length", "2"), ("Transfer-Encoding", "chunked")],
        [("Transfer-Encoding", "chunked, identity")],
        [("Transfer-Encoding", "gzip")],
    ):
        head = request_head("POST", target.ingest, [("Host", "x"), *headers])
        response = await raw_request(port_of(client), head, b"{}")
        check_raw(response)
        assert response.status != 202, headers
    await assert_still_serving(client, target)


async def test_an_enormous_declared_length_is_413_before_reading(
    client: Client, target: Target
) -> None:
    token = ("Authorization", f"Bearer {target.operator_token}")
    for path in (target.ingest, "/api/v1/boards"):
        head = request_head("POST", path, [("Host", "x"), token, ("Content-Length", str(2**40))])
        response = await raw_request(port_of(client), head)
        check_raw(response)
        assert response.status == 413, path


@pytest.mark.parametrize("route", ["ingest", "operator", "agent"])
async def test_a_trickled_body_is_cut_off_by_the_read_timeout(
    slow_client: Client, target: Target, route: str
) -> None:
    path = {
        "ingest": target.ingest,
        "operator": "/api/v1/boards",
        "agent": f"/api/v1/agent/boards/{target.board}/tasks",
    }[route]
    body = b'{"name": "' + b"s" * 200 + b'"}'
    headers = [
        ("Host", "x"),
        ("Authorization", f"Bearer {target.operator_token}"),
        ("X-Agent-Token", target.agent.token) if route == "agent" else ("X-Route", route),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ]
    # A byte every 0.2 s needs about 42 s; the server must end it long before the 15 s we wait.
    response, ended = await trickle_request(
        port_of(slow_client),
        request_head("POST", path, headers),
        body,
        interval=0.2,
        give_up_after=15,
    )
    assert ended, "the server held a trickling connection open"
    check_raw(response)
    assert response.status in (0, 400, 408), response
    await assert_still_serving(slow_client, target)


@pytest.mark.parametrize("depth", [300, 1000, 10_000])
async def test_deeply_nested_json_is_stored_and_served_without_a_5xx(
    client: Client, target: Target, settings: Settings, db: asyncpg.Pool, depth: int
) -> None:
    body = b"[" * depth + b"]" * depth
    operator = {"Authorization": f"Bearer {target.operator_token}"}
    refused = await client.post("/api/v1/boards", data=b"[" * depth, headers=operator)
    assert refused.status == 422
    refused.release()
    accepted = await client.post(
        target.ingest,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(target.secret, body),
        },
    )
    assert accepted.status == 202
    payload_id = (await accepted.json())["payload_id"]
    await drain_queue(settings)
    status = await db.fetchval(
        "SELECT status FROM webhook_payloads WHERE id = $1", uuid.UUID(payload_id)
    )
    assert status == "processed"
    base = f"/api/v1/boards/{target.board}/webhooks/{target.webhook}/payloads"
    for path, headers in (
        (base, operator),
        (f"{base}/{payload_id}", operator),
        (
            f"/api/v1/agent{base.removeprefix('/api/v1')}/{payload_id}",
            {"X-Agent-Token": target.agent.token},
        ),
        (
            f"/api/v1/agent{base.removeprefix('/api/v1')}/{payload_id}?max_chars=50",
            {"X-Agent-Token": target.agent.token},
        ),
    ):
        response = await client.get(path, headers=headers)
        assert response.status == 200, (path, await response.text())
        response.release()
