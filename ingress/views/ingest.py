"""`POST /api/v1/boards/{board_id}/webhooks/{webhook_id}`: check, enqueue, answer 202.

The checks run in the contract's order and nothing past the first failing one is read or
stored. No PostgreSQL on this path: webhook configuration comes from the in-process cache.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from aiohttp import web

from ingress.keys import CLIENT_IP, DELIVERY_QUEUE, SETTINGS, WEBHOOK_CONFIGS, WEBHOOK_LIMITER
from shared.errors import DomainError, Forbidden, Gone, NotFound, PayloadTooLarge, RateLimited
from shared.headers import kept_headers, media_type, sender_delivery_id
from shared.ids import uuid4_str
from shared.jobs import delivery_envelope, envelope_job_bytes
from shared.metrics import INGEST_OUTCOME_NAMES, INGEST_OUTCOMES, RATE_LIMITED
from shared.signatures import SignatureError, verify_signature

_OUTCOME = {name: INGEST_OUTCOMES.labels(name) for name in INGEST_OUTCOME_NAMES}
_WEBHOOK_RATE_LIMITED = RATE_LIMITED.labels("webhook")


async def read_body(request: web.Request, limit: int, timeout: float) -> bytes:
    """The whole body, refusing (413) as soon as it exceeds `limit` bytes; slow senders time out."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"Payload exceeds {limit} bytes.")
    content = request.content
    # Most bodies have fully arrived with the headers: take them without arming a timer.
    chunks = [content.read_nowait()]
    size = len(chunks[0])
    if size > limit:
        raise PayloadTooLarge(f"Payload exceeds {limit} bytes.")
    if not content.at_eof():
        try:
            async with asyncio.timeout(timeout):
                while chunk := await content.readany():
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"Payload exceeds {limit} bytes.")
                    chunks.append(chunk)
        except TimeoutError:
            raise DomainError(
                "Timed out reading the request body.", headers={"Connection": "close"}
            ) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def ingest_webhook(request: web.Request) -> web.Response:
    """Accept one webhook delivery."""
    app = request.app
    settings = app[SETTINGS]
    client_ip = request[CLIENT_IP]

    decision = await app[WEBHOOK_LIMITER].hit(client_ip)
    if not decision.allowed:
        _OUTCOME["rate_limited"].inc()
        _WEBHOOK_RATE_LIMITED.inc()
        raise RateLimited(decision.retry_after)

    match = request.match_info
    configs = app[WEBHOOK_CONFIGS]
    webhook_id = match["webhook_id"]
    config = configs.get(webhook_id) or await configs.lookup(webhook_id)
    if config is None or config.board_id != match["board_id"].lower():
        _OUTCOME["not_found"].inc()
        raise NotFound("Webhook not found.")
    if not config.enabled:
        _OUTCOME["disabled"].inc()
        raise Gone("Webhook is disabled.")

    try:
        body = await read_body(
            request, settings.webhook_max_payload_bytes, settings.ingress_read_timeout_seconds
        )
    except PayloadTooLarge:
        _OUTCOME["too_large"].inc()
        raise

    headers = request.headers
    now = time.time()
    if config.secret:
        try:
            verify_signature(
                scheme=config.signature_scheme,
                secrets=config.secrets_at(now),
                body=body,
                headers=headers,
                signature_header=config.signature_header,
                now=now,
                tolerance_seconds=config.timestamp_tolerance_seconds,
            )
        except SignatureError as error:
            _OUTCOME["bad_signature"].inc()
            raise Forbidden(error.detail) from None

    payload_id = uuid4_str()
    delivery_id = sender_delivery_id(headers)
    received_at_ms = int(now * 1000)
    job = envelope_job_bytes(
        delivery_envelope(
            payload_id,
            config.board_id,
            config.webhook_id,
            body,
            kept_headers(headers.items(), config.dropped_headers),
            client_ip,
            media_type(headers.get("Content-Type")),
            received_at_ms,
            delivery_id,
            config.description,
        ),
        received_at_ms,
    )
    try:
        enqueued = await app[DELIVERY_QUEUE].enqueue_job(
            payload_id, config.webhook_id, delivery_id, job
        )
    except DomainError:
        _OUTCOME["queue_unavailable"].inc()
        raise
    answer = {
        "ok": True,
        "board_id": config.board_id,
        "webhook_id": config.webhook_id,
        "payload_id": enqueued.payload_id,
    }
    if enqueued.duplicate:
        _OUTCOME["duplicate"].inc()
        answer["duplicate"] = True
        return web.Response(body=orjson.dumps(answer), content_type="application/json")
    _OUTCOME["accepted"].inc()
    return web.Response(status=202, body=orjson.dumps(answer), content_type="application/json")
