"""The arq worker: settings, resources and the metrics endpoint of one worker process."""

from __future__ import annotations

import logging
import time
from typing import Any

from arq import Worker
from arq.connections import RedisSettings
from arq.worker import func
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.db import create_pool
from shared.jobs import PROCESS_DELIVERY, REPLAY_DELIVERY, deserialize_job, serialize_job
from shared.settings import Settings
from workers.batch_worker import BatchingWorker
from workers.context import WorkerContext, store_worker_context, worker_context
from workers.deliveries import process_delivery
from workers.delivery_batch import process_delivery_batch
from workers.metrics_server import start_metrics_server, stop_metrics_server
from workers.queue_stats import QueueStatsReporter
from workers.replay import replay_delivery
from workers.writer import DeliveryWriter

log = logging.getLogger(__name__)

# arq gives up on a job after max_tries and would then drop it without telling us. The job
# function enforces WORKER_MAX_TRIES itself (and records the failure), so arq's own cap sits
# far above it and is never what ends a delivery.
_ARQ_MAX_TRIES = 1_000
# Batches in flight at once per worker: enough to overlap Redis and PostgreSQL round trips,
# few enough that the pool (8 connections) never runs dry.
_MAX_BATCHES = 4


def build_worker(settings: Settings, *, burst: bool = False, metrics: bool = True) -> Worker:
    """An arq Worker for the delivery queue."""

    async def on_startup(ctx: dict[str, Any]) -> None:
        assert settings.database_url
        pool = await create_pool(settings.database_url, min_size=1, max_size=8)
        writer = DeliveryWriter(pool, max_batch=settings.worker_batch_size)
        store_worker_context(ctx, WorkerContext(settings, pool, writer))
        if metrics:
            ctx["metrics_server"] = start_metrics_server(settings.worker_metrics_port)
            ctx["queue_stats"] = QueueStatsReporter(ctx["redis"], settings.queue_name).start()

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        if "queue_stats" in ctx:
            await ctx["queue_stats"].stop()
        if "mc" in ctx:
            wctx = worker_context(ctx)
            await wctx.writer.drain()
            await wctx.pool.close()
        stop_metrics_server(ctx.get("metrics_server"))

    return BatchingWorker(
        run_batch=process_delivery_batch,
        batch_size=settings.worker_batch_size,
        max_batches=_MAX_BATCHES,
        functions=[
            func(process_delivery, name=PROCESS_DELIVERY),
            func(replay_delivery, name=REPLAY_DELIVERY),
        ],
        queue_name=settings.queue_name,
        redis_settings=RedisSettings.from_dsn(settings.rq_redis_url),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        max_jobs=settings.worker_max_jobs,
        job_timeout=settings.worker_job_timeout_seconds,
        max_tries=_ARQ_MAX_TRIES,
        keep_result=0,
        poll_delay=0.05,
        burst=burst,
        handle_signals=not burst,
        health_check_interval=10,
    )


_REDIS_LOST = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


def run_worker(settings: Settings) -> None:
    """Run one worker process until it is told to stop, reconnecting when Redis goes away."""
    delay = 1.0
    while True:
        # arq's Worker binds to the event loop current when it is built; `run()` builds and
        # owns that loop (and closes the Redis pool on exit). Building it outside
        # `asyncio.run(...)` bound it to another loop, so the worker crashed at start.
        worker = build_worker(settings)
        try:
            worker.run()
        except _REDIS_LOST as error:
            # arq's loop ends on a Redis error. Jobs it had started stay queued and another
            # worker (or this one, back) takes them once their in-progress mark expires.
            log.warning(
                "worker lost Redis (%s); reconnecting in %.0fs", type(error).__name__, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        return
