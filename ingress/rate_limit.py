"""Rate limiters by client address: per process (memory) or shared by every process (redis)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from redis.asyncio import Redis

from shared.coalesce import Coalescer
from shared.ratelimit import ALLOWED, Decision, MemoryRateLimiter, decide, window_position
from shared.settings import RateLimit

log = logging.getLogger(__name__)

# For each (current, previous) key pair: admit and count when the sliding estimate is under
# the limit. Check-and-increment is atomic, so concurrent processes never over-admit.
CHECK_BATCH_LUA = """
local limit, weight, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local out = {}
for i = 1, #KEYS, 2 do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
  local allowed = 0
  if previous * weight + current < limit then
    redis.call('INCR', KEYS[i])
    redis.call('PEXPIRE', KEYS[i], ttl)
    allowed = 1
  end
  out[#out + 1] = allowed
  out[#out + 1] = previous
  out[#out + 1] = current
end
return out
"""


class RateLimiter(Protocol):
    """Counts a request from a client and says whether it may pass."""

    async def hit(self, key: str) -> Decision:
        """Decide for one request from `key`."""
        ...


class MemoryLimiter:
    """Adapter of the pure per-process limiter."""

    __slots__ = ("_limiter",)

    def __init__(self, limit: RateLimit) -> None:
        self._limiter = MemoryRateLimiter(limit)

    async def hit(self, key: str) -> Decision:
        """Decide for one request from `key`."""
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
        self._batches: Coalescer[str, tuple[int, int, int]] = Coalescer(self._send)
        self._failing = False

    async def hit(self, key: str) -> Decision:
        """Decide for one request from `key`."""
        try:
            allowed, previous, current = await self._batches.submit(key)
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
        if allowed:
            return ALLOWED
        _, elapsed = window_position(time.time(), self._limit.window_seconds)
        return decide(previous, current, elapsed, self._limit)

    async def _send(self, keys: list[str]) -> list[tuple[int, int, int]]:
        index, elapsed = window_position(time.time(), self._limit.window_seconds)
        redis_keys: list[str] = []
        for key in keys:
            redis_keys += (f"{self._prefix}{key}:{index}", f"{self._prefix}{key}:{index - 1}")
        ttl_ms = int(self._limit.window_seconds * 2000) + 1000
        async with asyncio.timeout(self._timeout):
            flat = await self._script(
                keys=redis_keys, args=[self._limit.requests, 1.0 - elapsed, ttl_ms]
            )
        return [(int(flat[i]), int(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)]
