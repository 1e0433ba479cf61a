"""The replay job: process a stored delivery again from its row in PostgreSQL."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
from arq import Retry

from shared.jobs import Delivery
from shared.metrics import JOBS
from shared.queries.attempts import Attempt, record_attempts
from shared.queries.deliveries import write_work
from shared.queries.replay import lock_for_replay, mark_replay_failed, mark_replay_processed
from shared.retry_policy import backoff_seconds, is_transient
from workers.context import WorkerContext, worker_context
from workers.deliveries import build_row
from workers.lifecycle import job_deadline, record_retry

log = logging.getLogger(__name__)


def stored_delivery(stored: asyncpg.Record) -> Delivery:
    """A stored `webhook_payloads` row (with its webhook's description) as a Delivery."""
    return Delivery(
        payload_id=str(stored["id"]),
        board_id=str(stored["board_id"]),
        webhook_id=str(stored["webhook_id"]),
        body=bytes(stored["raw_body"]),
        headers=dict(stored["headers"]),
        source_ip=stored["source_ip"] or "",
        content_type=stored["content_type"],
        received_at_ms=int(stored["received_at"].timestamp() * 1000),
        sender_delivery_id=stored["sender_delivery_id"],
        webhook_description=stored["description"],
    )


async def _replay(pool: asyncpg.Pool, payload_id: uuid.UUID) -> bool:
    """Mark the delivery processed and make sure its memory entry and task exist (once)."""
    async with pool.acquire() as conn, conn.transaction():
        stored = await lock_for_replay(conn, payload_id)
        if stored is None:
            return False
        delivery = stored_delivery(stored)
        row = build_row(delivery, delivery.webhook_description, stored["attempts"] + 1)
        attempts = await mark_replay_processed(conn, payload_id, row.payload)
        # ON CONFLICT (payload_id): a delivery that was already processed keeps its one
        # memory entry and task; a failed one gets them now.
        await write_work(conn, [row])
        await record_attempts(conn, [Attempt(payload_id, attempts, "replay", "processed")])
    return True


async def replay_delivery(ctx: dict[str, Any], payload_id: str, replay_id: str) -> None:
    """arq job: replay one stored delivery; retry transient failures; record the outcome."""
    wctx = worker_context(ctx)
    job_try: int = ctx.get("job_try", 1)
    pid = uuid.UUID(payload_id)
    try:
        async with job_deadline(wctx.settings):
            found = await _replay(wctx.pool, pid)
    except Exception as error:
        await _replay_failed(wctx, pid, error, job_try)
        return
    if not found:
        log.warning("replay %s: delivery %s is no longer stored", replay_id, payload_id)
        JOBS.labels("replay_missing").inc()
        return
    JOBS.labels("replayed").inc()


async def _replay_failed(
    wctx: WorkerContext, payload_id: uuid.UUID, error: Exception, job_try: int
) -> None:
    settings = wctx.settings
    reason = f"{type(error).__name__}: {error}"
    if is_transient(error) and job_try < settings.worker_max_tries:
        delay = backoff_seconds(
            job_try, settings.worker_retry_base_seconds, settings.worker_retry_max_seconds
        )
        log.warning(
            "replay of %s try %d failed transiently (%s); retrying in %.1fs",
            payload_id,
            job_try,
            type(error).__name__,
            delay,
        )
        await record_retry(wctx.pool, Attempt(payload_id, job_try, "replay", "retry", reason))
        JOBS.labels("retried").inc()
        raise Retry(defer=delay) from error
    log.error("replay of %s failed after %d tries: %s", payload_id, job_try, reason)
    try:
        async with wctx.pool.acquire() as conn, conn.transaction():
            attempts = await mark_replay_failed(conn, payload_id, reason)
            if attempts is not None:
                await record_attempts(
                    conn, [Attempt(payload_id, attempts, "replay", "failed", reason)]
                )
    except Exception as store_error:
        if is_transient(store_error):
            JOBS.labels("retried").inc()
            raise Retry(defer=settings.worker_retry_max_seconds) from store_error
        log.exception("replay of %s: its failure could not be recorded", payload_id)
        JOBS.labels("dropped").inc()
        return
    JOBS.labels("replay_failed").inc()
