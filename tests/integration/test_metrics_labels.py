"""No metric label takes values from requests: ids, paths, IPs and tokens never become series."""

from __future__ import annotations

import secrets
import uuid

import asyncpg
from pytest_aiohttp import AiohttpClient

from ingress.app import create_app
from tests.conftest import make_settings
from tests.support.agent_auth import random_token
from tests.support.factories import Factory
from tests.support.http import Client, ingest_path
from tests.support.metrics import Samples, label_values, scrape

BOUNDED = {
    "mc_ingest_outcomes_total": {
        "outcome": {
            "accepted",
            "duplicate",
            "rate_limited",
            "not_found",
            "disabled",
            "too_large",
            "bad_signature",
            "queue_unavailable",
        }
    },
    "mc_rate_limit_rejections_total": {"limiter": {"webhook", "agent_auth"}},
    "mc_agent_auth_total": {"outcome": {"ok", "cached", "invalid", "missing", "rate_limited"}},
}


def _route_templates() -> set[str]:
    app = create_app(make_settings("postgresql://127.0.0.1/unused", "t" * 64))
    return {resource.canonical for resource in app.router.resources()} | {"unmatched"}


async def _random_traffic(
    client: Client, board: uuid.UUID, hook: uuid.UUID, rounds: int
) -> tuple[list[str], list[str]]:
    """Requests full of one-off values; return the values sent and the payload ids received."""
    sent: list[str] = []
    payload_ids: list[str] = []
    for n in range(rounds):
        ip = f"203.0.{n % 250}.{secrets.randbelow(250) + 1}"
        token = random_token()
        noise = secrets.token_hex(8)
        some_id = str(uuid.uuid4())
        sent += [ip, token, noise, some_id]
        forwarded = {"X-Forwarded-For": ip}
        accepted = await client.post(
            ingest_path(board, hook),
            json={"n": n},
            headers={**forwarded, "X-GitHub-Delivery": noise},
        )
        assert accepted.status == 202
        payload_ids.append((await accepted.json())["payload_id"])
        responses = [
            await client.post(ingest_path(board, some_id), json={}, headers=forwarded),
            await client.post(ingest_path(noise, noise), json={}, headers=forwarded),
            await client.get(f"/{noise}/{some_id}", headers=forwarded),
            await client.get(f"/api/v1/boards/{some_id}", headers={"Authorization": token}),
            # One address, so its limiter soon refuses instead of hashing every random token.
            await client.get("/api/v1/agent/healthz", headers={"X-Agent-Token": token}),
            await client.get(
                f"/api/v1/boards/{board}/webhooks/{hook}/payloads/{some_id}",
                headers={"Authorization": f"Bearer {token}"},
            ),
            await client.put(f"/healthz?{noise}={some_id}", headers=forwarded),
        ]
        for response in responses:
            response.release()
    return sent, payload_ids


def _series(samples: Samples) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    return {key for key in samples if key[0].startswith("mc_")}


async def test_labels_stay_bounded_whatever_the_requests_carry(
    aiohttp_client: AiohttpClient,
    database_url: str,
    local_token: str,
    factory: Factory,
    db: asyncpg.Pool,
) -> None:
    # Trusting the test client as a proxy lets every request claim its own client address.
    settings = make_settings(
        database_url, local_token, trusted_proxies="127.0.0.1", agent_auth_rate_limit="3/60"
    )
    client = await aiohttp_client(create_app(settings))
    board = await factory.board()
    hook = await factory.webhook(board)

    sent, payload_ids = await _random_traffic(client, board, hook, 20)
    first = await scrape(client)
    more_sent, more_ids = await _random_traffic(client, board, hook, 20)
    second = await scrape(client)

    # Twenty more rounds of new values add no series at all: nothing grows with the traffic.
    assert _series(second) - _series(first) <= {
        (name, labels)
        for name, labels in _series(second)
        if dict(labels).get("route") == "/metrics"  # the first scrape itself, counted later
    }
    routes = label_values(second, "mc_http_requests_total", "route")
    assert routes <= _route_templates(), routes - _route_templates()
    assert "unmatched" in routes
    assert "/api/v1/boards/{board_id}/webhooks/{webhook_id}" in routes
    assert label_values(second, "mc_http_request_duration_seconds_count", "route") <= (
        _route_templates()
    )
    statuses = label_values(second, "mc_http_requests_total", "status")
    assert all(s.isdigit() and len(s) == 3 for s in statuses), statuses
    for name, labels in BOUNDED.items():
        for label, allowed in labels.items():
            assert label_values(second, name, label) <= allowed, name

    response = await client.get("/metrics")
    text = await response.text()
    leaked = [v for v in (*sent, *more_sent, *payload_ids, *more_ids) if v in text]
    assert leaked == []
    assert str(board) not in text
    assert str(hook) not in text
