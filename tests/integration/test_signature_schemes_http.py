"""Every signature scheme through HTTP: webhooks made by the operator API, signed independently."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

import asyncpg
import pytest

from shared.settings import Settings
from tests.support.operator_api import Client, OperatorApi, eventually, sign
from tests.support.workers import drain_queue

# Standard Webhooks' published test-vector secret (github.com/standard-webhooks).
SW_VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{"test": 2432232314}'

Signer = Callable[[str, bytes, int], dict[str, str]]


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def shopify(secret: str, body: bytes, ts: int) -> dict[str, str]:
    return {"X-Shopify-Hmac-Sha256": base64.b64encode(_mac(secret.encode(), body)).decode()}


def standard(secret: str, body: bytes, ts: int, extra: str = "") -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id = "msg_" + secrets.token_hex(8)
    sig = base64.b64encode(_mac(key, f"{msg_id}.{ts}.".encode() + body)).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": (extra + " " if extra else "") + f"v1,{sig}",
    }


def stripe(secret: str, body: bytes, ts: int, extra: str = "") -> dict[str, str]:
    sig = _mac(secret.encode(), f"{ts}.".encode() + body).hex()
    return {"Stripe-Signature": f"t={ts}," + (extra + "," if extra else "") + f"v1={sig}"}


def slack(secret: str, body: bytes, ts: int) -> dict[str, str]:
    sig = _mac(secret.encode(), f"v0:{ts}:".encode() + body).hex()
    return {"X-Slack-Signature": f"v0={sig}", "X-Slack-Request-Timestamp": str(ts)}


SCHEMES: dict[str, tuple[Signer, bool]] = {
    "hmac-sha256-base64": (shopify, False),
    "standard-webhooks": (standard, True),
    "stripe": (stripe, True),
    "slack": (slack, True),
}


def new_secret(scheme: str) -> str:
    """A secret in the scheme's format (the first standard-webhooks one is the vector's)."""
    if scheme == "standard-webhooks":
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    return secrets.token_hex(16)


async def send(client: Client, path: str, headers: dict[str, str]) -> tuple[int, str]:
    response = await client.post(
        path, data=BODY, headers={"Content-Type": "application/json", **headers}
    )
    return response.status, (await response.json()).get("detail", "")


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
async def test_each_scheme_accepts_good_and_refuses_bad_signatures(
    client: Client, local_token: str, settings: Settings, db: asyncpg.Pool, scheme: str
) -> None:
    signer, timestamped = SCHEMES[scheme]
    api = OperatorApi(client, local_token)
    board = (await api.board())["id"]
    secret = SW_VECTOR_SECRET if scheme == "standard-webhooks" else new_secret(scheme)
    hook = await api.webhook(board, secret=secret, signature_scheme=scheme)
    assert hook["signature_scheme"] == scheme
    path = hook["endpoint_path"]
    now = int(time.time())

    assert (await send(client, path, signer(secret, BODY, now)))[0] == 202
    assert await send(client, path, signer(new_secret(scheme), BODY, now)) == (
        403,
        "Invalid webhook signature.",
    )
    # The default scheme's signature is no signature for this one.
    assert (await send(client, path, {"X-Hub-Signature-256": sign(secret, BODY)}))[0] == 403
    if timestamped:
        for skew in (-400, 400):
            assert await send(client, path, signer(secret, BODY, now + skew)) == (
                403,
                "Webhook timestamp outside tolerance.",
            )
        lenient = await api.webhook(
            board, secret=secret, signature_scheme=scheme, timestamp_tolerance_seconds=1000
        )
        assert (await send(client, lenient["endpoint_path"], signer(secret, BODY, now - 400)))[
            0
        ] == 202
    if scheme == "standard-webhooks":
        wrong = "v1," + base64.b64encode(secrets.token_bytes(32)).decode()
        assert (await send(client, path, standard(secret, BODY, now, wrong)))[0] == 202
    if scheme == "stripe":
        wrong = "v1=" + secrets.token_hex(32)
        assert (await send(client, path, stripe(secret, BODY, now, wrong)))[0] == 202

    # Rotation: during the grace period both secrets pass; a third does not.
    new = new_secret(scheme)
    rotate = f"/api/v1/boards/{board}/webhooks/{hook['id']}/rotate-secret"
    reply = await api.call("POST", rotate, {"secret": new, "grace_seconds": 3600})
    assert reply.status == 200

    async def new_passes() -> bool:
        return (await send(client, path, signer(new, BODY, int(time.time()))))[0] == 202

    await eventually(new_passes)
    assert (await send(client, path, signer(secret, BODY, int(time.time()))))[0] == 202
    assert (await send(client, path, signer(new_secret(scheme), BODY, now)))[0] == 403

    # No signature header of the scheme is kept with a delivery.
    await drain_queue(settings)
    stored = await db.fetch("SELECT headers FROM webhook_payloads")
    assert stored
    signature_headers = {
        name.lower() for name in signer(secret, BODY, now) if "timestamp" not in name.lower()
    } - {"webhook-id"}
    for row in stored:
        assert not signature_headers & set(row["headers"]), row["headers"]
