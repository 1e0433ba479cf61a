"""Rate limiters by client address: per process (memory) or shared by every process (redis)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from typing import Protocol

from redis.asyncio import Redis

from shared.coalesce import Coalescer
from shared.ratelimit import ALLOWED, Decision, MemoryRateLimiter, retry_after_seconds
from shared.settings import RateLimit

log = logging.getLogger(__name__)

# For each client key: drop admitted times older than the window, then admit and record this
# request if fewer than the limit remain; otherwise report the oldest time still counted (for
# Retry-After). Check and record are one atomic step, so concurrent processes never over-admit.
CHECK_BATCH_LUA = """
local limit, now, window_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_ms)
  if redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, now, ARGV[3 + i])
    redis.call('PEXPIRE', key, window_ms)
    out[#out + 1] = 0
  else
    out[#out + 1] = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  end
end
return out
"""


class RateLimiter(Protocol):
    """Counts a request from a client and says whether it may pass."""

    async def hit(self, key: str) -> Decision:
        """Decide for one request from `key`."""
        ...

    def hit_nowait(self, key: str) -> Decision | None:
        """`hit` when it can be decided without waiting (in memory); else None, nothing counted."""
        ...


class MemoryLimiter:
    """Adapter of the pure per-process limiter."""

    __slots__ = ("_limiter",)

    def __init__(self, limit: RateLimit) -> None:
        self._limiter = MemoryRateLimiter(limit)

    async def hit(self, key: str) -> Decision:
        """Decide for one request from `key`."""
        return self._limiter.hit(key, time.time())

    def hit_nowait(self, key: str) -> Decision:
        """Decide at once (this limiter never waits)."""
        return self._limiter.hit(key, time.time())


class RedisLimiter:
    """Limiter shared through Redis; fails open (with one warning) when Redis fails."""

    def __init__(
        self, redis: Redis, limit: RateLimit, *, name: str, namespace: str, timeout: float
    ) -> None:
        self._redis = redis
        self._limit = limit
        self._prefix = f"{namespace}:rl:{name}:"
        self._timeout = timeout
        self._script = redis.register_script(CHECK_BATCH_LUA)
        self._batches: Coalescer[str, int] = Coalescer(self._send)
        self._failing = False
        self._sequence = itertools.count()
        self._instance = os.urandom(6).hex()

    def hit_nowait(self, key: str) -> None:
        """Redis must be asked: never decided at once."""
        return None

    async def hit(self, key: str) -> Decision:
        """Decide for one request from `key`."""
        try:
            oldest_ms = await self._batches.submit(key)
        except Exception as error:
            if not self._failing:
                self._failing = True
                log.warning(
                    "rate limiter redis unavailable (%s); allowing requests until it recovers",
                    type(error).__name__,
                )
            return ALLOWED
        if self._failing:
            self._failing = False
            log.info("rate limiter redis recovered")
        if not oldest_ms:
            return ALLOWED
        return Decision(
            False, retry_after_seconds(oldest_ms / 1000, time.time(), self._limit.window_seconds)
        )

    async def _send(self, keys: list[str]) -> list[int]:
        now_ms = int(time.time() * 1000)
        window_ms = int(self._limit.window_seconds * 1000)
        # Each admitted request is one member of its client's sorted set, unique across
        # processes: two equal members would count once and let one request too many through.
        members = [f"{self._instance}:{next(self._sequence)}" for _ in keys]
        async with asyncio.timeout(self._timeout):
            answers = await self._script(
                keys=[self._prefix + key for key in keys],
                args=[self._limit.requests, now_ms, window_ms, *members],
            )
        return [int(answer) for answer in answers]
