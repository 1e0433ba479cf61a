"""Hand accepted deliveries to the arq queue, with the sender's delivery id claimed atomically."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from shared.errors import ServiceUnavailable
from shared.jobs import JOB_EXPIRY_MS, JOB_KEY_PREFIX, Delivery, delivery_job_bytes
from shared.resp import Arg, PipelinedRedis, RedisConnectionLost, RedisReplyError

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


MAX_BATCH = 512  # deliveries per script call; a busier tick sends more than one


@dataclass(frozen=True, slots=True)
class Enqueued:
    """Outcome of one enqueue: the payload id that holds the event, and whether it is a repeat."""

    payload_id: str
    duplicate: bool


class _Batch:
    """The deliveries of one event-loop tick: one script call, one future per delivery."""

    __slots__ = ("args", "done", "futures", "retried", "sent", "timer")

    def __init__(self, args: list[Arg], loop: asyncio.AbstractEventLoop) -> None:
        self.args = args
        self.futures: list[asyncio.Future[bytes]] = []
        self.done: asyncio.Future[None] = loop.create_future()  # answered or failed
        self.sent = False
        self.retried = False
        self.timer: asyncio.TimerHandle | None = None


class DeliveryQueue:
    """Enqueues deliveries; concurrent calls share one Redis round trip per event-loop tick.

    A batch is driven by callbacks on the reply, not by a task of its own: the reply resolves
    each delivery's future, a timer fails the batch when Redis is too slow, and NOSCRIPT sends
    the script itself once.
    """

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
        self._filling: _Batch | None = None  # collecting this tick's deliveries
        self._in_flight: set[_Batch] = set()

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
            first = await self.submit(payload_id, webhook_id, sender_delivery_id, job)
        except Exception as error:
            raise self.unavailable(error) from None
        return Enqueued(first.decode(), True) if first else Enqueued(payload_id, False)

    def submit(
        self, payload_id: str, webhook_id: str, sender_delivery_id: str | None, job: bytes
    ) -> asyncio.Future[bytes]:
        """`enqueue_job` without a coroutine or an `Enqueued` of its own (the ingest path).

        The future resolves to b"" when the job was queued, or to the first delivery's payload
        id when the sender's delivery id was seen before (nothing queued). A failed future must
        be turned into `unavailable(error)` by the caller.
        """
        dedup_key = ""
        if sender_delivery_id:
            dedup_key = f"{self._dedup_prefix}{webhook_id}:{sender_delivery_id}"
        loop = asyncio.get_running_loop()
        batch = self._filling
        if batch is None:
            now_ms = int(time.time() * 1000)
            batch = self._filling = _Batch([*self._head, now_ms, JOB_KEY_PREFIX], loop)
            loop.call_soon(self._send, batch)  # after every request of this tick
        future: asyncio.Future[bytes] = loop.create_future()
        batch.futures.append(future)
        batch.args += (payload_id, dedup_key, job)
        if len(batch.futures) >= MAX_BATCH:
            self._send(batch)
        return future

    @staticmethod
    def unavailable(error: BaseException) -> ServiceUnavailable:
        """The 503 for a failed enqueue (logged once per failed request, without details)."""
        log.warning("queue unavailable: %s", type(error).__name__)
        return ServiceUnavailable("Queue unavailable; retry later.", retry_after=5)

    def _send(self, batch: _Batch) -> None:
        if batch.sent:  # sent early, full
            return
        batch.sent = True
        if self._filling is batch:
            self._filling = None
        self._in_flight.add(batch)
        self._call(batch)

    def _call(self, batch: _Batch) -> None:
        try:
            reply = self._redis.send(batch.args)
        except Exception as error:
            self._finish(batch, error)
            return
        if batch.timer is None:  # one deadline for the batch, a NOSCRIPT retry included
            loop = asyncio.get_running_loop()
            batch.timer = loop.call_later(self._timeout, self._expire, batch)
        reply.add_done_callback(functools.partial(self._replied, batch))

    def _replied(self, batch: _Batch, reply: asyncio.Future[Any]) -> None:
        if reply.cancelled():
            error: BaseException | None = RedisConnectionLost("enqueue cancelled")
        else:
            error = reply.exception()  # also marks it retrieved when nobody waits any more
        if batch not in self._in_flight:  # timed out before the reply came
            return
        if error is None:
            answers = reply.result()
            if isinstance(answers, list) and len(answers) == len(batch.futures):
                for future, answer in zip(batch.futures, answers, strict=True):
                    if not future.done():  # its caller may have gone (cancelled)
                        future.set_result(answer)
                self._finish(batch, None)
                return
            error = RedisReplyError("enqueue script answered the wrong number of replies")
        elif (
            isinstance(error, RedisReplyError)
            and str(error).startswith("NOSCRIPT")
            and not batch.retried
        ):
            # Redis restarted or flushed its scripts: send the script itself once.
            batch.retried = True
            batch.args[0:2] = ["EVAL", ENQUEUE_BATCH_LUA]
            self._call(batch)
            return
        self._finish(batch, error)

    def _expire(self, batch: _Batch) -> None:
        if batch in self._in_flight:
            self._finish(batch, TimeoutError())
            # Replies may still come for what was sent; a new connection starts clean.
            self._redis.abort()

    def _finish(self, batch: _Batch, error: BaseException | None) -> None:
        if batch.timer is not None:
            batch.timer.cancel()
        self._in_flight.discard(batch)
        if error is not None:
            for future in batch.futures:
                if not future.done():
                    future.set_exception(error)
        batch.done.set_result(None)

    async def drain(self) -> None:
        """Send what is collecting and wait for every batch in flight."""
        if self._filling is not None:
            self._send(self._filling)
        while self._in_flight:
            await asyncio.wait([batch.done for batch in self._in_flight])

    async def close(self) -> None:
        """Finish what is in flight, then close the connection."""
        await self.drain()
        await self._redis.close()
