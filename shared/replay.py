"""Re-enqueue stored deliveries: one by id, or a filtered bulk walk in bounded batches.

A replay job carries only the payload id and the replay's id; the worker reads the stored
row. Bulk replays do not starve fresh ingest: the queue is one Redis sorted set ordered by
score (due time) and the ingress scores each delivery with its arrival time, so each replay
batch is scored `REPLAY_BATCH_INTERVAL_MS` after the previous one. A fresh delivery then
waits behind at most the replay batches already due, never behind the whole replay, and the
replay's pace is capped at `REPLAY_BATCH_SIZE` per interval; when workers are idle a batch
simply runs as soon as it is due.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from shared.jobs import JOB_EXPIRY_MS, JOB_KEY_PREFIX, replay_job_bytes, replay_job_id
from shared.queries.replay import Position, ReplayFilter, count_matching, matching_page

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """How many deliveries matched the filter and how many were re-enqueued."""

    matched: int
    replayed: int


async def enqueue_replays(
    redis: Redis, queue_name: str, payload_ids: list[str], replay_id: str, score_ms: int
) -> None:
    """Enqueue one replay job per payload id, due at `score_ms`, in one Redis round trip."""
    now_ms = int(time.time() * 1000)
    async with redis.pipeline(transaction=True) as pipe:
        for payload_id in payload_ids:
            job_id = replay_job_id(payload_id, replay_id)
            pipe.set(
                JOB_KEY_PREFIX + job_id,
                replay_job_bytes(payload_id, replay_id, now_ms),
                px=JOB_EXPIRY_MS,
            )
            pipe.zadd(queue_name, {job_id: score_ms})
        await pipe.execute()


async def replay_one(redis: Redis, queue_name: str, payload_id: uuid.UUID) -> str:
    """Enqueue a replay of one stored delivery, due now; the replay's id."""
    replay_id = uuid.uuid4().hex[:12]
    await enqueue_replays(redis, queue_name, [str(payload_id)], replay_id, int(time.time() * 1000))
    return replay_id


async def replay_matching(
    pool: asyncpg.Pool,
    redis: Redis,
    *,
    queue_name: str,
    where: ReplayFilter,
    dry_run: bool,
    batch_size: int,
    batch_interval_ms: int,
    progress: Progress | None = None,
) -> ReplayResult:
    """Count the matching deliveries and (unless `dry_run`) re-enqueue them, page by page."""
    async with pool.acquire() as conn:
        total = await count_matching(conn, where)
    if dry_run:
        return ReplayResult(matched=total, replayed=0)
    replay_id = uuid.uuid4().hex[:12]
    start_ms = int(time.time() * 1000)
    after: Position | None = None
    done = batch = 0
    if progress:
        progress(0, total)
    while True:
        async with pool.acquire() as conn:
            page = await matching_page(conn, where, after, batch_size)
        if not page:
            break
        batch += 1
        score = start_ms + batch * batch_interval_ms
        await enqueue_replays(redis, queue_name, [str(p[1]) for p in page], replay_id, score)
        done += len(page)
        after = page[-1]
        if progress:
            progress(done, max(total, done))
    log.info("replay %s enqueued %d of %d matching deliveries", replay_id, done, total)
    return ReplayResult(matched=max(total, done), replayed=done)
