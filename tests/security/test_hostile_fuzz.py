"""Random input on the ingest, agent and operator routes: never a 5xx, errors always JSON.

Each property sends its examples to one in-process app (the function-scoped fixtures are
shared by the examples on purpose) and then checks that a signed delivery is still accepted.
"""

from __future__ import annotations

import string
import uuid
from typing import Any

import orjson
from aiohttp import ClientResponse, ClientTimeout
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests.security.conftest import Target, assert_still_serving
from tests.support.http import Client
from tests.support.operator_api import sign

FUZZ = settings(
    max_examples=100,
    deadline=None,
    # No shrinking: it replays a failure for minutes under load; the first example is enough.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# A request that hangs fails its example instead of holding the suite.
TIMEOUT = ClientTimeout(total=30)

# Header values a client library will send (no CR/LF/NUL), including non-ASCII latin-1.
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=200,
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/vnd.api+json",
            "",
            ";;;",
            "application/json; charset=nope",
        ]
    ),
    header_text,
)
NASTY_BODIES = [
    b"\xff\xfe\xfd",
    b'{"a": "\xc3\x28"}',
    b"[" * 10_000,
    b"[" * 600 + b"]" * 600,
    b"[" * 300 + b"]" * 300,
    b'{"a":' * 2000,
    b"\x00" * 64,
    b'{"title": "\\u0000"}',
    b'{"message": "\\ud800"}',
]
bodies = st.one_of(
    st.binary(max_size=4096),
    st.text(max_size=1000).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    ).map(orjson.dumps),
    st.sampled_from(NASTY_BODIES),
)
segments = st.one_of(
    st.uuids().map(str),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.~%", max_size=60),
    st.sampled_from(["%zz", "%00", "%C0%AE", "%E0%80%80", "..", "%2e%2e", "%2F", "0" * 500]),
)
queries = st.dictionaries(
    st.sampled_from(
        ["limit", "offset", "status", "assigned_agent_id", "unassigned", "is_chat", "max_chars"]
    ),
    st.one_of(
        st.integers(-(2**70), 2**70).map(str),
        st.text(alphabet=string.printable, max_size=40),
    ),
    max_size=4,
)


async def check_answer(response: ClientResponse) -> None:
    """No 5xx; an error the app answered is JSON with `detail` and the response's request id."""
    text = await response.read()
    assert response.status < 500, (response.status, text[:300])
    if response.status >= 400 and "X-Request-Id" in response.headers:
        body: Any = orjson.loads(text)
        assert isinstance(body["detail"], str)
        assert body["request_id"] == response.headers["X-Request-Id"]


@FUZZ
@given(
    body=bodies,
    content_type=content_types,
    which=st.sampled_from(["signed", "unknown", "garbage"]),
    signature=st.one_of(st.none(), header_text, st.just("valid")),
    extra=st.dictionaries(
        st.sampled_from(
            [
                "X-GitHub-Delivery",
                "webhook-id",
                "Idempotency-Key",
                "X-Request-Id",
                "X-Forwarded-For",
                "Forwarded",
                "X-Webhook-Signature",
            ]
        ),
        header_text,
        max_size=3,
    ),
)
async def test_ingest_survives_random_requests(
    client: Client,
    target: Target,
    body: bytes,
    content_type: str,
    which: str,
    signature: str | None,
    extra: dict[str, str],
) -> None:
    path = {
        "signed": target.ingest,
        "unknown": f"/api/v1/boards/{target.board}/webhooks/{uuid.uuid4()}",
        "garbage": f"/api/v1/boards/{target.board}/webhooks/not-a-uuid",
    }[which]
    headers = {"Content-Type": content_type, **extra}
    if signature is not None:
        headers["X-Hub-Signature-256"] = (
            sign(target.secret, body) if signature == "valid" else signature
        )
    response = await client.post(path, data=body, headers=headers, timeout=TIMEOUT)
    await check_answer(response)
    if which == "signed" and signature == "valid":
        assert response.status in (200, 202)
    await assert_still_serving(client, target)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"]),
    template=st.sampled_from(
        [
            "/api/v1/agent/healthz",
            "/api/v1/agent/heartbeat",
            "/api/v1/agent/boards/{board}/tasks",
            "/api/v1/agent/boards/{board}/tasks/{task}",
            "/api/v1/agent/boards/{board}/tasks/{task}/comments",
            "/api/v1/agent/boards/{board}/memory",
            "/api/v1/agent/boards/{board}/webhooks/{webhook}/payloads/{payload}",
            "/api/v1/boards/{board}/tasks",
            "/api/v1/boards/{board}/tasks/{task}",
            "/api/v1/boards/{board}/tasks/{task}/comments",
        ]
    ),
    board=st.one_of(st.just("own"), segments),
    task=st.one_of(st.just("own"), segments),
    token=st.sampled_from(["agent", "none", "garbage", "bearer"]),
    query=queries,
    body=bodies,
    content_type=content_types,
)
async def test_agent_routes_survive_random_requests(
    client: Client,
    target: Target,
    method: str,
    template: str,
    board: str,
    task: str,
    token: str,
    query: dict[str, str],
    body: bytes,
    content_type: str,
) -> None:
    path = template.format(
        board=target.board if board == "own" else board,
        task=target.task if task == "own" else task,
        webhook=target.webhook,
        payload=uuid.uuid4(),
    )
    headers = {"Content-Type": content_type}
    if token == "agent":
        headers["X-Agent-Token"] = target.agent.token
    elif token == "bearer":
        headers["Authorization"] = f"Bearer {target.agent.token}"
    elif token == "garbage":
        headers["X-Agent-Token"] = "mca_" + "x" * 90
    url = URL(path, encoded=True).with_query(query) if query else URL(path, encoded=True)
    response = await client.request(method, url, data=body, headers=headers, timeout=TIMEOUT)
    await check_answer(response)
    await assert_still_serving(client, target)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE"]),
    template=st.sampled_from(
        [
            "/api/v1/boards",
            "/api/v1/boards/{board}",
            "/api/v1/boards/{board}/agents",
            "/api/v1/boards/{board}/agents/{agent}",
            "/api/v1/boards/{board}/webhooks",
            "/api/v1/boards/{board}/webhooks/{webhook}",
            "/api/v1/boards/{board}/webhooks/{webhook}/rotate-secret",
            "/api/v1/boards/{board}/webhooks/{webhook}/payloads",
            "/api/v1/boards/{board}/webhooks/{webhook}/payloads/{webhook}",
        ]
    ),
    board=st.one_of(st.just("own"), segments),
    webhook=st.one_of(st.just("own"), segments),
    query=queries,
    body=bodies,
    content_type=content_types,
    authorized=st.booleans(),
)
async def test_operator_routes_survive_random_requests(
    client: Client,
    target: Target,
    method: str,
    template: str,
    board: str,
    webhook: str,
    query: dict[str, str],
    body: bytes,
    content_type: str,
    authorized: bool,
) -> None:
    if board == "own" and (method == "DELETE" or (webhook == "own" and "{webhook}" in template)):
        method = "GET"  # keep the board and webhook the liveness check delivers to
    path = template.format(
        board=target.board if board == "own" else board,
        webhook=target.webhook if webhook == "own" else webhook,
        agent=target.agent.id,
    )
    headers = {"Content-Type": content_type}
    if authorized:
        headers["Authorization"] = f"Bearer {target.operator_token}"
    url = URL(path, encoded=True).with_query(query) if query else URL(path, encoded=True)
    response = await client.request(method, url, data=body, headers=headers, timeout=TIMEOUT)
    await check_answer(response)
    await assert_still_serving(client, target)
