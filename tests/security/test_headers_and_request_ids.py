"""CORS and security headers as configured; request ids and paths cannot forge log lines."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient
from yarl import URL

from ingress.app import create_app
from ingress.routes import add_route
from shared.logging import JsonFormatter, TextFormatter
from tests.conftest import make_settings
from tests.security.conftest import Target
from tests.support.http import Client
from tests.support.operator_api import sign
from tests.support.raw_http import raw_request, request_head

ALLOWED = "https://app.example"
SECURITY_DEFAULTS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


async def app_client(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, **overrides: Any
) -> Client:
    """The app with `overrides`, plus a route that fails unexpectedly (the 500 path)."""
    app = create_app(make_settings(database_url, local_token, **overrides))

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("unexpected")

    add_route(app, "GET", "/test-only/boom", boom)
    return await aiohttp_client(app)


@pytest.fixture
async def cors_client(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, db: asyncpg.Pool
) -> Client:
    """CORS for one origin, a tiny body limit and a one-request webhook rate limit."""
    return await app_client(
        aiohttp_client,
        database_url,
        local_token,
        cors_origins=ALLOWED,
        webhook_max_payload_bytes=10,
        webhook_rate_limit="1/600",
        security_header_permissions_policy="camera=()",
    )


async def every_kind_of_answer(client: Client, target: Target) -> dict[str, Any]:
    """200, 202, 404, 405, 413, 429, 500 and 422 answers (the limiter admits one delivery)."""
    signed = {"X-Hub-Signature-256": sign(target.secret, b"{}")}
    answers = {
        "200": await client.get("/healthz"),
        "202": await client.post(target.ingest, data=b"{}", headers=signed),
        "429": await client.post(target.ingest, data=b"{}", headers=signed),
        "404": await client.get("/no/such/route"),
        "405": await client.put("/healthz"),
        "500": await client.get("/test-only/boom"),
        "422": await client.get(
            "/api/v1/boards?limit=0",
            headers={"Authorization": f"Bearer {target.operator_token}"},
        ),
    }
    for response in answers.values():
        response.release()
    return answers


async def test_every_answer_carries_request_id_and_security_headers(
    cors_client: Client, aiohttp_client: AiohttpClient, target: Target, database_url: str
) -> None:
    answers = await every_kind_of_answer(cors_client, target)
    preflight = await cors_client.options(
        "/api/v1/boards", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
    )
    answers["preflight"] = preflight
    expected = {**SECURITY_DEFAULTS, "Permissions-Policy": "camera=()"}
    for status, response in answers.items():
        if status.isdigit():
            assert response.status == int(status), status
        assert response.headers.get("X-Request-Id"), status
        for name, value in expected.items():
            assert response.headers.get(name) == value, (status, name)
    # The 413 path on its own (the limiter above may refuse first).
    big = await app_client(
        aiohttp_client, database_url, target.operator_token, webhook_max_payload_bytes=10
    )
    too_large = await big.post(target.ingest, data=b"x" * 100)
    assert too_large.status == 413
    assert too_large.headers.get("X-Request-Id")
    for name, value in SECURITY_DEFAULTS.items():
        assert too_large.headers.get(name) == value, name


async def test_a_blank_security_header_setting_disables_that_header(
    aiohttp_client: AiohttpClient, database_url: str, local_token: str, db: asyncpg.Pool
) -> None:
    client = await app_client(
        aiohttp_client,
        database_url,
        local_token,
        security_header_x_frame_options="",
        security_header_referrer_policy="no-referrer",
    )
    for path in ("/healthz", "/no/such/route", "/test-only/boom"):
        response = await client.get(path)
        assert "X-Frame-Options" not in response.headers, path
        assert "Permissions-Policy" not in response.headers, path  # blank by default
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_cors_allows_the_configured_origin_only(cors_client: Client) -> None:
    allowed = await cors_client.get("/healthz", headers={"Origin": ALLOWED})
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in allowed.headers["Vary"]
    assert "X-Request-Id" in allowed.headers["Access-Control-Expose-Headers"]
    for origin in ("https://evil.example", ALLOWED + ".evil.example", "null", ALLOWED.upper()):
        refused = await cors_client.get("/healthz", headers={"Origin": origin})
        assert refused.status == 200
        assert not any(h.startswith("Access-Control-") for h in refused.headers), origin


async def test_cors_preflight(cors_client: Client) -> None:
    preflight = await cors_client.options(
        "/api/v1/boards",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert preflight.headers.get("X-Request-Id")
    refused = await cors_client.options(
        "/api/v1/boards",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PATCH"},
    )
    assert refused.status != 204
    assert not any(h.startswith("Access-Control-") for h in refused.headers)


async def test_no_cors_headers_at_all_without_cors_origins(client: Client) -> None:
    for method, path in (("GET", "/healthz"), ("OPTIONS", "/api/v1/boards")):
        response = await client.request(
            method,
            path,
            headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
        )
        assert response.status < 500
        assert not any(h.startswith("Access-Control-") for h in response.headers), method


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """`ingress.access` records formatted by the service's own text formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("ingress.access")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.mark.parametrize(
    "raw_id",
    [
        "abc def",
        "a" * 5000,
        "caf\u00e9-\u2713",
        "id\tx",
        'id"x',
        "id=1 request_id=forged",
        "",
    ],
)
async def test_a_dirty_client_request_id_is_replaced(
    client: Client, access_log: io.StringIO, raw_id: str
) -> None:
    head = request_head("GET", "/api/v1/boards", [("Host", "x"), ("X-Request-Id", raw_id)])
    port = client.server.port
    assert port is not None
    response = await raw_request(port, head)
    assert response.status == 401
    answered = response.headers["x-request-id"]
    assert GENERATED_ID.fullmatch(answered), answered
    assert orjson.loads(response.body)["request_id"] == answered
    lines = access_log.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(f"request_id={answered}")


async def test_a_request_id_with_a_line_break_never_reaches_the_app_as_one(
    client: Client, access_log: io.StringIO
) -> None:
    port = client.server.port
    assert port is not None
    for raw_id in ("abc\rforged", "abc\r\n forged", "abc\nforged: 1"):
        head = request_head("GET", "/healthz", [("Host", "x"), ("X-Request-Id", raw_id)])
        response = await raw_request(port, head)
        assert response.status in (0, 200, 400)
        if "x-request-id" in response.headers:
            assert GENERATED_ID.fullmatch(response.headers["x-request-id"])
    assert "forged" not in access_log.getvalue()


async def test_a_plain_client_request_id_is_kept(client: Client) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "req-42_a.b:c"})
    assert response.headers["X-Request-Id"] == "req-42_a.b:c"


async def test_encoded_line_breaks_in_paths_stay_on_one_log_line(
    client: Client, access_log: io.StringIO
) -> None:
    paths = [
        "/api/v1/boards/x%0AINFO%20ingress.access:%20GET%20/forged%20200",
        "/api/v1/boards/x%0D%0Aforged",
        "/api/v1/agent/boards/%0A%0A/tasks",
    ]
    for path in paths:
        response = await client.get(URL(path, encoded=True))
        assert response.status in (401, 404)
    lines = access_log.getvalue().splitlines()
    assert len(lines) == len(paths)
    assert all(" ingress.access: GET /api/v1/" in line for line in lines)
    assert "\\n" in lines[0]


async def test_with_json_format_every_record_is_one_json_object(client: Client) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        for path in ("/api/v1/boards/x%0Ay%0D%0Az", "/healthz%0A", "/test-only/none"):
            (await client.get(URL(path, encoded=True))).release()
        (await client.get("/api/v1/boards", headers={"X-Request-Id": "a b\u2713"})).release()
    finally:
        root.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 4
    for line in lines:
        entry = orjson.loads(line)
        assert isinstance(entry, dict)
        assert entry["message"]
