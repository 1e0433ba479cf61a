"""Resources of an ingress process, opened and closed by `cleanup_ctx` generators."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from ingress.config_cache import WebhookConfigCache
from ingress.delivery_queue import DeliveryQueue
from ingress.keys import (
    AGENT_AUTH_LIMITER,
    DB_POOL,
    DELIVERY_QUEUE,
    QUEUE_REDIS,
    SETTINGS,
    WEBHOOK_CONFIGS,
    WEBHOOK_LIMITER,
)
from ingress.rate_limit import MemoryLimiter, RateLimiter, RedisLimiter
from shared.db import create_pool
from shared.metric_buffer import BUFFERS
from shared.redis import connect_redis
from shared.resp import PipelinedRedis
from shared.settings import RateLimit, Settings

log = logging.getLogger(__name__)

METRIC_FLUSH_SECONDS = 1.0


class StartupError(Exception):
    """A dependency the process cannot run without is unavailable or misconfigured."""


async def postgres_ctx(app: web.Application) -> AsyncIterator[None]:
    """The PostgreSQL pool (configuration cache, readiness, operator and agent APIs)."""
    settings = app[SETTINGS]
    if not settings.database_url:
        raise StartupError("invalid setting DATABASE_URL: required")
    # Ingress queries (config and credential polls, the APIs) are short: fail them fast.
    app[DB_POOL] = await create_pool(
        settings.database_url, min_size=1, max_size=10, command_timeout=10
    )
    yield
    await app[DB_POOL].close()


async def queue_ctx(app: web.Application) -> AsyncIterator[None]:
    """The queue's Redis and the coalescing delivery queue."""
    settings = app[SETTINGS]
    redis = connect_redis(settings.rq_redis_url, timeout=settings.redis_timeout_seconds)
    app[QUEUE_REDIS] = redis
    # The hot path's enqueue gets its own lean pipelined connection; the rest uses redis-py.
    pipe = PipelinedRedis(settings.rq_redis_url, connect_timeout=settings.redis_timeout_seconds)
    app[DELIVERY_QUEUE] = DeliveryQueue(
        pipe,
        queue_name=settings.queue_name,
        namespace=settings.redis_namespace,
        dedup_ttl_seconds=settings.webhook_dedup_ttl_seconds,
        timeout_seconds=settings.redis_timeout_seconds,
    )
    yield
    await app[DELIVERY_QUEUE].close()
    await redis.aclose()


async def webhook_configs_ctx(app: web.Application) -> AsyncIterator[None]:
    """The webhook configuration cache, loaded before the first request."""
    settings = app[SETTINGS]
    cache = WebhookConfigCache(
        app[DB_POOL], refresh_seconds=settings.webhook_config_refresh_seconds
    )
    await cache.start()
    app[WEBHOOK_CONFIGS] = cache
    yield
    await cache.stop()


async def rate_limiters_ctx(app: web.Application) -> AsyncIterator[None]:
    """Webhook and agent-auth limiters on the configured backend."""
    settings = app[SETTINGS]
    redis: Redis | None = None
    if settings.rate_limit_backend == "redis":
        redis = connect_redis(
            settings.effective_rate_limit_redis_url, timeout=settings.redis_timeout_seconds
        )
        try:
            await redis.ping()
        except Exception as error:
            await redis.aclose()
            raise StartupError(
                f"RATE_LIMIT_REDIS_URL: rate limiter Redis unreachable ({type(error).__name__})"
            ) from None

    def make(limit: RateLimit, name: str) -> RateLimiter:
        if redis is None:
            return MemoryLimiter(limit)
        return RedisLimiter(
            redis,
            limit,
            name=name,
            namespace=settings.redis_namespace,
            timeout=settings.redis_timeout_seconds,
        )

    app[WEBHOOK_LIMITER] = make(settings.webhook_rate_limit, "webhook")
    app[AGENT_AUTH_LIMITER] = make(settings.agent_auth_rate_limit, "agent_auth")
    yield
    if redis is not None:
        await redis.aclose()


async def metric_buffer_ctx(_app: web.Application) -> AsyncIterator[None]:
    """Hand the hot path's buffered metric counts to prometheus-client every second, and once
    more at exit (with `--processes N` another process may answer the scrape)."""

    async def flush_every_second() -> None:
        while True:
            await asyncio.sleep(METRIC_FLUSH_SECONDS)
            BUFFERS.flush()

    task = asyncio.create_task(flush_every_second())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    BUFFERS.flush()


def install(app: web.Application, settings: Settings) -> None:
    """Register every resource context in dependency order."""
    app[SETTINGS] = settings
    app.cleanup_ctx.extend(
        [metric_buffer_ctx, postgres_ctx, queue_ctx, webhook_configs_ctx, rate_limiters_ctx]
    )
    # Imported here: the auth modules import this one (StartupError) and ingress.keys.
    from ingress.auth.context import agent_auth_ctx, clerk_ctx
    from ingress.task_changes import task_pages_ctx

    app.cleanup_ctx.extend([agent_auth_ctx, clerk_ctx, task_pages_ctx])
