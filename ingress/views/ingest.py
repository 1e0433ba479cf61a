"""`POST /api/v1/boards/{board_id}/webhooks/{webhook_id}`: check, enqueue, answer 202.

The checks run in the contract's order and nothing past the first failing one is read or
stored. No PostgreSQL on this path: webhook configuration comes from the in-process cache.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from aiohttp import web

from ingress.keys import DELIVERY_QUEUE, SETTINGS, WEBHOOK_CONFIGS, WEBHOOK_LIMITER
from ingress.request_context import REQUEST_CONTEXT
from ingress.validation import body_read_timeout
from shared.errors import Forbidden, Gone, NotFound, PayloadTooLarge, RateLimited
from shared.headers import kept_headers, media_type, sender_delivery_id
from shared.ids import uuid7_str
from shared.jobs import delivery_envelope, envelope_job_bytes
from shared.metric_buffer import BUFFERS
from shared.metrics import INGEST_OUTCOME_NAMES, INGEST_OUTCOMES, RATE_LIMITED
from shared.ratelimit import Decision
from shared.signatures import SignatureError, verify_signature
from shared.webhook_config import WebhookConfig

_OUTCOME = {name: BUFFERS.counter(INGEST_OUTCOMES.labels(name)) for name in INGEST_OUTCOME_NAMES}
_WEBHOOK_RATE_LIMITED = RATE_LIMITED.labels("webhook")


def read_arrived_body(request: web.Request, limit: int) -> tuple[bytes, bool]:
    """What of the body has arrived and whether that is all of it; 413 past `limit` bytes.

    Most bodies arrive with their headers, so the hot path reads them without a coroutine.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"Payload exceeds {limit} bytes.")
    content = request.content
    arrived = content.read_nowait()
    if len(arrived) > limit:
        raise PayloadTooLarge(f"Payload exceeds {limit} bytes.")
    return arrived, content.at_eof()


async def read_rest_of_body(
    request: web.Request, arrived: bytes, limit: int, timeout: float
) -> bytes:
    """The whole body after `arrived`, refusing (413) as soon as it exceeds `limit` bytes;
    a sender slower than `timeout` seconds in all gets an error and the connection closes."""
    content = request.content
    chunks = [arrived]
    size = len(arrived)
    try:
        async with asyncio.timeout(timeout):
            while chunk := await content.readany():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"Payload exceeds {limit} bytes.")
                chunks.append(chunk)
    except TimeoutError:
        raise body_read_timeout() from None
    return b"".join(chunks)


class IngestEndpoint:
    """The ingest route's handler, its resources looked up once at startup.

    This is the service's hot path, so it runs the request context inline (one coroutine
    less than the generic route wrapper), takes the in-memory rate limit without awaiting,
    and awaits the enqueue future directly.
    """

    def __init__(self, route: str) -> None:
        self._route = route

    async def bind(self, app: web.Application) -> None:
        """`on_startup`: after every resource context has opened."""
        self._context = app[REQUEST_CONTEXT]
        self._json_headers = self._context.json_headers()
        self._limiter = app[WEBHOOK_LIMITER]
        self._configs = app[WEBHOOK_CONFIGS]
        self._queue = app[DELIVERY_QUEUE]
        settings = app[SETTINGS]
        self._max_bytes = settings.webhook_max_payload_bytes
        self._read_timeout = settings.ingress_read_timeout_seconds

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Accept one webhook delivery (or refuse it, in JSON, with the usual headers).

        Each check is a plain method; this coroutine awaits only where a check has to wait
        (a Redis rate limiter, a webhook not cached yet, a body still arriving) and for the
        enqueue. The common request thus runs one coroutine of ours, and resuming it after
        its batch is stored passes through no other.
        """
        context = self._context
        started = time.perf_counter()
        request_id, client_ip = context.begin(request)
        try:
            limiter = self._limiter
            self._check_rate(limiter.hit_nowait(client_ip) or await limiter.hit(client_ip))
            match = request.match_info
            webhook_id = match["webhook_id"]
            configs = self._configs
            config = configs.get(webhook_id) or await configs.lookup(webhook_id)
            config = self._check_webhook(config, match["board_id"])
            body, complete = self._read_arrived_body(request)
            if not complete:
                body = await self._read_rest_of_body(request, body)
            payload_id, delivery_id, job = self._verify_and_encode(request, config, body, client_ip)
            queue = self._queue
            try:
                first = await queue.submit(payload_id, config.webhook_id, delivery_id, job)
            except Exception as error:
                _OUTCOME["queue_unavailable"].inc()
                raise queue.unavailable(error) from None
        except Exception as error:
            failed = context.fail(request, error, request_id)
            return context.finish(request, failed, self._route, request_id, client_ip, started)
        answer: dict[str, object] = {
            "ok": True,
            "board_id": config.board_id,
            "webhook_id": config.webhook_id,
            "payload_id": payload_id,
        }
        if first:  # the sender's delivery id was seen before: the first delivery's payload id
            _OUTCOME["duplicate"].inc()
            answer["payload_id"] = first.decode()
            answer["duplicate"] = True
            status = 200
        else:
            _OUTCOME["accepted"].inc()
            status = 202
        # Response copies the prebuilt header set, so adding the request id leaves it alone.
        response = web.Response(
            status=status, body=orjson.dumps(answer), headers=self._json_headers
        )
        response.headers["X-Request-Id"] = request_id
        return context.record(request, response, self._route, request_id, client_ip, started)

    # The checks, in the contract's order; each raises its refusal.

    @staticmethod
    def _check_rate(decision: Decision) -> None:
        if not decision.allowed:
            _OUTCOME["rate_limited"].inc()
            _WEBHOOK_RATE_LIMITED.inc()
            raise RateLimited(decision.retry_after)

    @staticmethod
    def _check_webhook(config: WebhookConfig | None, board_id: str) -> WebhookConfig:
        if config is None or config.board_id != board_id.lower():
            _OUTCOME["not_found"].inc()
            raise NotFound("Webhook not found.")
        if not config.enabled:
            _OUTCOME["disabled"].inc()
            raise Gone("Webhook is disabled.")
        return config

    def _read_arrived_body(self, request: web.Request) -> tuple[bytes, bool]:
        try:
            return read_arrived_body(request, self._max_bytes)
        except PayloadTooLarge:
            _OUTCOME["too_large"].inc()
            raise

    async def _read_rest_of_body(self, request: web.Request, arrived: bytes) -> bytes:
        try:
            return await read_rest_of_body(request, arrived, self._max_bytes, self._read_timeout)
        except PayloadTooLarge:
            _OUTCOME["too_large"].inc()
            raise

    @staticmethod
    def _verify_and_encode(
        request: web.Request, config: WebhookConfig, body: bytes, client_ip: str
    ) -> tuple[str, str | None, bytes]:
        """Check the signature, then encode the job: (payload id, sender's delivery id, job)."""
        now = time.time()
        if config.secret:
            IngestEndpoint._check_signature(request, config, body, now)
        return IngestEndpoint._encode(request, config, body, client_ip, now)

    @staticmethod
    def _check_signature(
        request: web.Request, config: WebhookConfig, body: bytes, now: float
    ) -> None:
        try:
            verify_signature(
                scheme=config.signature_scheme,
                secrets=config.secrets_at(now),
                body=body,
                headers=request.headers,
                signature_header=config.signature_header,
                now=now,
                tolerance_seconds=config.timestamp_tolerance_seconds,
            )
        except SignatureError as error:
            _OUTCOME["bad_signature"].inc()
            raise Forbidden(error.detail) from None

    @staticmethod
    def _encode(
        request: web.Request, config: WebhookConfig, body: bytes, client_ip: str, now: float
    ) -> tuple[str, str | None, bytes]:
        headers = request.headers
        received_at_ms = int(now * 1000)
        payload_id = uuid7_str(received_at_ms)
        delivery_id = sender_delivery_id(headers)
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
        return payload_id, delivery_id, job
