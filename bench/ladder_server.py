"""A step of the ladder from the bare handler (a) toward the ingress (b): one cost at a time.

`python -m bench.ladder_server --port P --level N --board B --webhook W`, with the webhook's
secret in `LADDER_WEBHOOK_SECRET`. Levels 1 to 4 are cumulative; 5 and 6 are level 3 plus one half
of level 4 (`LEVELS`). Each is an aiohttp server like `bench/bare.py` that also does what its
level adds, with the ingress's own code where there is one, so that measured side by side
(`python -m bench.ladder`) the steps show where the ingress's extra CPU goes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import AsyncIterator

import orjson
from aiohttp import web
from multidict import CIMultiDict

from ingress.delivery_queue import DeliveryQueue
from ingress.middlewares import security_headers
from ingress.views.ingest import IngestEndpoint
from shared.errors import DomainError
from shared.ids import random_hex_id, uuid7_str
from shared.resp import PipelinedRedis
from shared.settings import Settings
from shared.webhook_config import WebhookConfig

LEVELS = {
    1: "+ each request waits for a per-tick batch (no I/O)",
    2: "+ the ingress's answer (JSON ids, request id, security headers)",
    3: "+ the real enqueue (DeliveryQueue on PipelinedRedis)",
    4: "+ signature check and job encoding (_verify_and_encode)",
    # Level 3 plus one half of level 4, to split it.
    5: "3 + the signature check only",
    6: "3 + the job encoding only",
}
_QUEUE: web.AppKey[DeliveryQueue] = web.AppKey("queue", DeliveryQueue)


class _TickBatch:
    """Futures resolved together at the end of the event-loop tick that made them."""

    def __init__(self) -> None:
        self._pending: list[asyncio.Future[bytes]] = []

    def wait(self) -> asyncio.Future[bytes]:
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._resolve)
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending.append(future)
        return future

    def _resolve(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            if not future.done():
                future.set_result(b"")


def build_app(
    level: int,
    config: WebhookConfig,
    redis_url: str,
    *,
    queue_name: str = "mc:queue",
    namespace: str = "mc",
) -> web.Application:
    """The server of one ladder level (0 is the bare handler); levels 3 and up enqueue on
    `queue_name` in the Redis at `redis_url`."""
    # The default SECURITY_HEADER_* values, as a default ingress sends them.
    defaults = Settings.model_construct()
    answer_headers = CIMultiDict({"Content-Type": "application/json", **security_headers(defaults)})
    tick = _TickBatch()

    async def accept(request: web.Request) -> web.Response:
        try:
            return await answer(request)
        except DomainError as error:  # a refused signature, as the ingress would answer it
            return web.json_response(error.body(), status=error.status)

    async def answer(request: web.Request) -> web.Response:
        body = await request.read()
        if level < 2:
            if level == 1:
                await tick.wait()
            return web.Response(status=202, body=b'{"ok":true}', content_type="application/json")
        payload_id, job = uuid7_str(int(time.time() * 1000)), body
        client = request.remote or "unknown"
        if level == 4:
            payload_id, _, job = IngestEndpoint._verify_and_encode(request, config, body, client)
        elif level == 5:
            IngestEndpoint._check_signature(request, config, body, time.time())
        elif level == 6:
            payload_id, _, job = IngestEndpoint._encode(request, config, body, client, time.time())
        if level >= 3:
            await request.app[_QUEUE].submit(payload_id, config.webhook_id, None, job)
        match = request.match_info
        accepted = {
            "ok": True,
            "board_id": match["board_id"],
            "webhook_id": match["webhook_id"],
            "payload_id": payload_id,
        }
        response = web.Response(status=202, body=orjson.dumps(accepted), headers=answer_headers)
        response.headers["X-Request-Id"] = random_hex_id()
        return response

    async def queue(app: web.Application) -> AsyncIterator[None]:
        app[_QUEUE] = DeliveryQueue(
            PipelinedRedis(redis_url, connect_timeout=5),
            queue_name=queue_name,
            namespace=namespace,
            dedup_ttl_seconds=60,
            timeout_seconds=5,
        )
        yield
        await app[_QUEUE].close()

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(body=b'{"ok":true}', content_type="application/json")

    app = web.Application(client_max_size=1_048_576)
    if level >= 3:
        app.cleanup_ctx.append(queue)
    app.router.add_post("/api/v1/boards/{board_id}/webhooks/{webhook_id}", accept)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    """Serve one level on 127.0.0.1:--port (Redis from RQ_REDIS_URL for levels 3 and up)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--level", type=int, choices=[0, *LEVELS], required=True)
    parser.add_argument("--board", required=True)
    parser.add_argument("--webhook", required=True)
    args = parser.parse_args()
    # The secret comes by environment, never on a command line other users can read.
    config = WebhookConfig(
        args.webhook,
        args.board,
        True,
        secret=os.environ["LADDER_WEBHOOK_SECRET"],
        description="bench",
        dropped_headers=frozenset({"x-hub-signature-256"}),
    )
    app = build_app(args.level, config, os.environ.get("RQ_REDIS_URL", ""))
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
