"""Liveness, readiness and the ingress's Prometheus metrics."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ingress.keys import DB_POOL, QUEUE_REDIS, REQUEST_ID, WEBHOOK_CONFIGS
from ingress.metrics_export import render_metrics
from shared.metric_buffer import BUFFERS
from shared.metrics import CONFIG_CACHE_AGE

_CHECK_TIMEOUT = 2.0
_OK = orjson.dumps({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    """200 while the process runs."""
    return web.Response(body=_OK, content_type="application/json")


async def _check_postgres(request: web.Request) -> bool:
    try:
        # asyncpg's own timeouts leave the connection usable; an outside cancel may not.
        async with request.app[DB_POOL].acquire(timeout=_CHECK_TIMEOUT) as conn:
            await conn.fetchval("SELECT 1", timeout=_CHECK_TIMEOUT)
    except Exception:
        return False
    return True


async def _check_redis(request: web.Request) -> bool:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            await request.app[QUEUE_REDIS].ping()
    except Exception:
        return False
    return True


async def readyz(request: web.Request) -> web.Response:
    """200 when PostgreSQL and Redis answer; 503 naming what is down."""
    postgres, redis = await asyncio.gather(_check_postgres(request), _check_redis(request))
    checks = {"postgres": "ok" if postgres else "down", "redis": "ok" if redis else "down"}
    if postgres and redis:
        return web.Response(
            body=orjson.dumps({"ok": True, "checks": checks}), content_type="application/json"
        )
    down = " and ".join(name for name, state in checks.items() if state == "down")
    body = {
        "ok": False,
        "detail": f"Not ready: {down} unavailable.",
        "checks": checks,
        "request_id": request[REQUEST_ID],
    }
    return web.Response(status=503, body=orjson.dumps(body), content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: this process, or every ingress process in multiprocess mode."""
    CONFIG_CACHE_AGE.set(request.app[WEBHOOK_CONFIGS].age_seconds)
    BUFFERS.flush()  # this process's counts are exact; other processes' at most 1 s old
    response = web.Response(body=render_metrics())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
