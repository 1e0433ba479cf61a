"""Claim delivery jobs in batches: one Redis call to claim, one transaction, one call to finish.

arq starts each job with three or four sequential Redis round trips and finishes it with
another, which caps any arq worker far below the rate senders can reach. This worker keeps
arq's queue, job format and keys (the in-progress lease, the retry counter), so arq's own
tools, health check and crash recovery still apply, but claims up to `batch_size` due
delivery jobs in one Lua call, writes them in one transaction and finishes or reschedules
them all in one more. Jobs of other functions (replays) are left to arq's own runner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.jobs import PROCESS_DELIVERY

log = logging.getLogger(__name__)

# For each candidate id: take the in-progress lease (as arq's start_jobs does) when the job is
# due and not running elsewhere. A delivery job is returned with its try number and data;
# another function's job gets its lease back and is named for arq's own runner; a job whose
# data expired is dropped from the queue, as arq would.
CLAIM_LUA = """
local queue, now, lease = KEYS[1], tonumber(ARGV[1]), ARGV[2]
local marker = ARGV[3]
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local score = redis.call('ZSCORE', queue, id)
  if score and tonumber(score) <= now
      and redis.call('SET', 'arq:in-progress:' .. id, '1', 'NX', 'PX', lease) then
    local data = redis.call('GET', 'arq:job:' .. id)
    if not data then
      redis.call('DEL', 'arq:in-progress:' .. id, 'arq:retry:' .. id)
      redis.call('ZREM', queue, id)
    elseif string.find(string.sub(data, 1, 64), marker, 1, true) then
      local tries = redis.call('INCR', 'arq:retry:' .. id)
      redis.call('PEXPIRE', 'arq:retry:' .. id, 88400000)  -- as arq keeps it
      out[#out + 1] = 'd'
      out[#out + 1] = id
      out[#out + 1] = tries
      out[#out + 1] = data
    else
      redis.call('DEL', 'arq:in-progress:' .. id)
      out[#out + 1] = 'o'
      out[#out + 1] = id
    end
  end
end
return out
"""

# For each (id, retry_at): an empty retry_at finishes the job (as arq's finish_job does with
# results off); otherwise the job goes back in the queue at retry_at and its lease is freed.
FINISH_LUA = """
local queue = KEYS[1]
for i = 1, #ARGV, 2 do
  local id, retry_at = ARGV[i], ARGV[i + 1]
  if retry_at == '' then
    redis.call('DEL', 'arq:job:' .. id, 'arq:retry:' .. id, 'arq:in-progress:' .. id)
    redis.call('ZREM', queue, id)
  else
    redis.call('ZADD', queue, retry_at, id)
    redis.call('DEL', 'arq:in-progress:' .. id)
  end
end
return 1
"""

DELIVERY_MARKER = f'"f":"{PROCESS_DELIVERY}"'


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A delivery job this worker now holds the lease of."""

    job_id: str
    tries: int
    data: bytes


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a claimed job ends: finished (`retry_in` None) or due again in `retry_in` seconds."""

    job_id: str
    retry_in: float | None = None


BatchHandler = Callable[[list[ClaimedJob]], Awaitable[list[JobOutcome]]]


class BatchClaimer:
    """Claims and finishes delivery jobs of one queue in batches."""

    def __init__(self, redis: Redis, queue_name: str, *, lease_seconds: float) -> None:
        self._redis = redis
        self._queue = queue_name
        self._lease_ms = str(int(lease_seconds * 1000))
        self._claim = redis.register_script(CLAIM_LUA)
        self._finish = redis.register_script(FINISH_LUA)

    async def claim(self, job_ids: list[str]) -> tuple[list[ClaimedJob], list[str]]:
        """Lease the due delivery jobs among `job_ids`; also return the ids of other jobs."""
        if not job_ids:
            return [], []
        now_ms = str(int(time.time() * 1000))
        raw = await self._claim(
            keys=[self._queue], args=[now_ms, self._lease_ms, DELIVERY_MARKER, *job_ids]
        )
        claimed: list[ClaimedJob] = []
        others: list[str] = []
        i = 0
        while i < len(raw):
            if raw[i] == b"d":
                claimed.append(ClaimedJob(raw[i + 1].decode(), int(raw[i + 2]), raw[i + 3]))
                i += 4
            else:
                others.append(raw[i + 1].decode())
                i += 2
        return claimed, others

    async def finish(self, outcomes: list[JobOutcome]) -> None:
        """Finish or reschedule jobs in one call."""
        if not outcomes:
            return
        now = time.time()
        args: list[str] = []
        for outcome in outcomes:
            retry_at = "" if outcome.retry_in is None else str(int((now + outcome.retry_in) * 1000))
            args += (outcome.job_id, retry_at)
        await self._finish(keys=[self._queue], args=args)
