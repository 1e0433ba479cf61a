"""Queue depth and oldest-job age, sampled by each worker for its metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis

from shared.metrics import QUEUE_DEPTH, QUEUE_OLDEST_AGE

log = logging.getLogger(__name__)


class QueueStatsReporter:
    """Samples the queue every few seconds in the background."""

    def __init__(self, redis: Redis, queue_name: str, interval: float = 5.0) -> None:
        self._redis = redis
        self._queue = queue_name
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> QueueStatsReporter:
        """Begin sampling."""
        self._task = asyncio.create_task(self._run(), name="queue-stats")
        return self

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sample(self) -> None:
        """Read depth and the oldest ready job's age once."""
        now_ms = time.time() * 1000
        depth = await self._redis.zcount(self._queue, "-inf", now_ms)
        oldest = await self._redis.zrangebyscore(
            self._queue, "-inf", now_ms, start=0, num=1, withscores=True
        )
        QUEUE_DEPTH.set(depth)
        QUEUE_OLDEST_AGE.set(max(0.0, (now_ms - oldest[0][1]) / 1000) if oldest else 0.0)

    async def _run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as error:
                log.debug("queue stats unavailable: %s", error)
            await asyncio.sleep(self._interval)
