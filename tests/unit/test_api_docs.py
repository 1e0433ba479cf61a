"""docs/api.md and the routes the ingress registers cannot drift apart."""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from ingress.app import create_app
from shared.settings import Settings
from shared.signatures import InvalidSignature, verify_signature

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_HEADING_ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")
_SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS", "*"})


def documented_routes(text: str) -> list[tuple[str, str]]:
    """(method, path) of every route named in a `### ` heading, in order."""
    routes: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith("### "):
            routes += _HEADING_ROUTE.findall(line)
    return routes


def registered_routes() -> set[tuple[str, str]]:
    """(method, path) of every route `create_app` registers; the app is never started."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        auth_mode="local",
        local_auth_token=secrets.token_urlsafe(48),
        database_url="postgresql://unused.invalid/none",
    )
    app = create_app(settings)
    routes = set()
    for route in app.router.routes():
        if route.method in _SKIPPED_METHODS or route.resource is None:
            continue
        routes.add((route.method, route.resource.canonical))
    return routes


@pytest.fixture(scope="module")
def doc_text() -> str:
    return API_DOC.read_text(encoding="utf-8")


def test_headings_are_parsed(doc_text: str) -> None:
    routes = documented_routes(doc_text)
    assert ("POST", "/api/v1/boards") in routes
    # A heading may name several routes (a task route under both prefixes).
    assert ("GET", "/api/v1/agent/boards/{board_id}/tasks") in routes
    assert ("GET", "/api/v1/boards/{board_id}/tasks") in routes


def test_every_registered_route_is_documented(doc_text: str) -> None:
    missing = registered_routes() - set(documented_routes(doc_text))
    assert not missing, f"routes without a heading in docs/api.md: {sorted(missing)}"


def test_every_documented_route_exists(doc_text: str) -> None:
    unknown = set(documented_routes(doc_text)) - registered_routes()
    assert not unknown, f"docs/api.md documents routes the app does not have: {sorted(unknown)}"


def test_each_route_is_documented_once(doc_text: str) -> None:
    routes = documented_routes(doc_text)
    repeated = sorted({route for route in routes if routes.count(route) > 1})
    assert not repeated, f"routes with more than one heading: {repeated}"


def _example(doc_text: str, marker: str) -> dict[str, Any]:
    """The names a worked Python example in the doc defines (its own asserts run too)."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", doc_text, re.S) if marker in b]
    assert blocks, f"no Python example containing {marker!r} in docs/api.md"
    names: dict[str, Any] = {}
    # The repository's own doc, run so a reader can trust its examples work.
    exec(blocks[0], names)  # noqa: S102 (trusted text from this repository)
    return names


def test_worked_hmac_sha256_example_verifies(doc_text: str) -> None:
    example = _example(doc_text, '"sha256=" +')
    secret, body, signature = example["secret"], example["body"], example["signature"]

    def verify(body: bytes, signature: str) -> None:
        verify_signature(
            scheme="hmac-sha256",
            secrets=[secret],
            body=body,
            headers={"x-hub-signature-256": signature},
            signature_header=None,
            now=0.0,
        )

    verify(body, signature)
    with pytest.raises(InvalidSignature):
        verify(body + b" ", signature)


def test_worked_standard_webhooks_example_verifies(doc_text: str) -> None:
    example = _example(doc_text, "whsec_")
    timestamp = example["ts"]
    headers = {
        "webhook-id": example["msg_id"],
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(example["mac"]).decode(),
    }
    verify_signature(
        scheme="standard-webhooks",
        secrets=[example["secret"]],
        body=example["body"],
        headers=headers,
        signature_header=None,
        now=float(timestamp),
    )
