"""PROTOTYPE, not a worker to run: claim and finish arq jobs in batches, to size the win.

arq starts each job with four sequential Redis round trips (WATCH, EXISTS, ZSCORE,
MULTI/PSETEX/EXEC in `Worker.start_jobs`), then one more in `run_job` and one in
`finish_job`. Here one Lua call claims up to BATCH due jobs (same keys as arq: the in-progress
lease, the retry counter) and one call finishes them, and the rows go through the real
worker's `build_row` + `persist_processed`. No retries, no failure handling: it only measures
what the claim/finish design costs. Several loops run at once so Redis and PostgreSQL overlap.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from redis.asyncio import Redis

from shared.db import create_pool
from shared.jobs import Delivery, deserialize_job
from shared.queries.deliveries import persist_processed
from shared.settings import load_settings
from workers.deliveries import build_row

BATCH = int(os.environ.get("BENCH_BATCH", "500"))
LOOPS = int(os.environ.get("BENCH_LOOPS", "3"))

_CLAIM = """
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  if redis.call('SET', 'arq:in-progress:' .. id, '1', 'NX', 'PX', ARGV[3]) then
    local tries = redis.call('INCR', 'arq:retry:' .. id)
    redis.call('PEXPIRE', 'arq:retry:' .. id, 88400000)
    out[#out + 1] = id
    out[#out + 1] = redis.call('GET', 'arq:job:' .. id) or ''
    out[#out + 1] = tries
  end
end
return out
"""

_FINISH = """
for _, id in ipairs(ARGV) do
  redis.call('DEL', 'arq:job:' .. id, 'arq:retry:' .. id, 'arq:in-progress:' .. id)
  redis.call('ZREM', KEYS[1], id)
end
return #ARGV
"""


async def main() -> None:
    """Drain the queue in batches until SIGTERM."""
    settings = load_settings()
    assert settings.database_url
    redis = Redis.from_url(settings.rq_redis_url)
    pool = await create_pool(settings.database_url, min_size=1, max_size=LOOPS + 1)
    claim, finish = redis.register_script(_CLAIM), redis.register_script(_FINISH)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    claims: asyncio.Lock = asyncio.Lock()

    async def loop() -> None:
        while not stop.is_set():
            async with claims:  # one claimer at a time keeps batches full and disjoint
                now_ms = str(int(time.time() * 1000))
                raw = await claim(keys=[settings.queue_name], args=[now_ms, BATCH, 60_000])
            if not raw:
                await asyncio.sleep(0.05)
                continue
            ids, rows = [], []
            for i in range(0, len(raw), 3):
                job = deserialize_job(raw[i + 1])
                delivery = Delivery.from_envelope(job["a"][0])
                ids.append(raw[i])
                rows.append(build_row(delivery, delivery.webhook_description, int(raw[i + 2])))
            async with pool.acquire() as conn:
                await persist_processed(conn, rows)
            await finish(keys=[settings.queue_name], args=ids)

    try:
        await asyncio.gather(*(loop() for _ in range(LOOPS)))
    finally:
        await pool.close()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
