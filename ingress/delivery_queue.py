"""Hand accepted deliveries to the arq queue, with the sender's delivery id claimed atomically."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass

from shared.coalesce import Coalescer
from shared.errors import ServiceUnavailable
from shared.jobs import JOB_EXPIRY_MS, JOB_KEY_PREFIX, Delivery, delivery_job_bytes
from shared.resp import Arg, PipelinedRedis, RedisReplyError

log = logging.getLogger(__name__)

# One call enqueues a whole batch. For each job: when it has a dedup key that is already
# claimed, answer the first delivery's payload id and enqueue nothing; otherwise claim the key
# (if any), store the job and add it to the queue. It all happens in one atomic step, so a
# failure never leaves a claim without its job.
ENQUEUE_BATCH_LUA = """
local queue, ttl, expiry, score, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local out = {}
for i = 6, #ARGV, 3 do
  local id, dedup_key, job = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local first = false
  if dedup_key ~= '' then
    first = redis.call('GET', dedup_key)
    if not first then redis.call('SET', dedup_key, id, 'EX', ttl) end
  end
  if first then
    out[#out + 1] = first
  else
    redis.call('SET', prefix .. id, job, 'PX', expiry)
    redis.call('ZADD', queue, score, id)
    out[#out + 1] = ''
  end
end
return out
"""
# Redis names scripts by their SHA-1 (an identifier here, not a security measure).
_ENQUEUE_SHA = hashlib.sha1(ENQUEUE_BATCH_LUA.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Enqueued:
    """Outcome of one enqueue: the payload id that holds the event, and whether it is a repeat."""

    payload_id: str
    duplicate: bool


class DeliveryQueue:
    """Enqueues deliveries; concurrent calls share one Redis round trip per event-loop tick."""

    def __init__(
        self,
        redis: PipelinedRedis,
        *,
        queue_name: str,
        namespace: str,
        dedup_ttl_seconds: int,
        timeout_seconds: float,
    ) -> None:
        self._redis = redis
        self._queue_name = queue_name
        self._dedup_prefix = f"{namespace}:dedup:"
        self._dedup_ttl = str(dedup_ttl_seconds)
        self._timeout = timeout_seconds
        self._head: list[Arg] = [
            "EVALSHA",
            _ENQUEUE_SHA,
            0,
            queue_name,
            self._dedup_ttl,
            str(JOB_EXPIRY_MS),
        ]
        self._batches: Coalescer[tuple[str, str, bytes], Enqueued] = Coalescer(self._send)

    async def enqueue(self, delivery: Delivery) -> Enqueued:
        """Durably queue `delivery`, or report the first payload id of a repeat; 503 on failure."""
        job = delivery_job_bytes(delivery, delivery.received_at_ms)
        return await self.enqueue_job(
            delivery.payload_id, delivery.webhook_id, delivery.sender_delivery_id, job
        )

    async def enqueue_job(
        self, payload_id: str, webhook_id: str, sender_delivery_id: str | None, job: bytes
    ) -> Enqueued:
        """`enqueue` for a job already encoded (see `shared.jobs.envelope_job_bytes`)."""
        try:
            return await self.submit(payload_id, webhook_id, sender_delivery_id, job)
        except Exception as error:
            raise self.unavailable(error) from None

    def submit(
        self, payload_id: str, webhook_id: str, sender_delivery_id: str | None, job: bytes
    ) -> asyncio.Future[Enqueued]:
        """`enqueue_job` without a coroutine of its own (the ingest path): a failed future must
        be turned into `unavailable(error)` by the caller."""
        dedup_key = ""
        if sender_delivery_id:
            dedup_key = f"{self._dedup_prefix}{webhook_id}:{sender_delivery_id}"
        return self._batches.submit((payload_id, dedup_key, job))

    @staticmethod
    def unavailable(error: BaseException) -> ServiceUnavailable:
        """The 503 for a failed enqueue (logged once per failed request, without details)."""
        log.warning("queue unavailable: %s", type(error).__name__)
        return ServiceUnavailable("Queue unavailable; retry later.", retry_after=5)

    async def _send(self, batch: list[tuple[str, str, bytes]]) -> list[Enqueued]:
        now_ms = int(time.time() * 1000)
        args = [*self._head, now_ms, JOB_KEY_PREFIX]
        for item in batch:
            args += item
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    answers = await self._redis.send(args)
                except RedisReplyError as error:
                    if not str(error).startswith("NOSCRIPT"):
                        raise
                    # Redis restarted or flushed its scripts: send the script itself once.
                    args[0:2] = ["EVAL", ENQUEUE_BATCH_LUA]
                    answers = await self._redis.send(args)
        except TimeoutError:
            # Replies may still come for what was sent; a new connection starts clean.
            self._redis.abort()
            raise
        return [
            Enqueued(answer.decode(), True) if answer else Enqueued(payload_id, False)
            for (payload_id, _, _), answer in zip(batch, answers, strict=True)
        ]

    async def drain(self) -> None:
        """Wait for every enqueue in flight."""
        await self._batches.drain()

    async def close(self) -> None:
        """Finish what is in flight, then close the connection."""
        await self.drain()
        await self._redis.close()
