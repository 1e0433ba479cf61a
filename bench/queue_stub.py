"""A stand-in for the workers during the HTTP phases: it deletes what the ingress queues.

Phases (a)/(b) run no worker, so without this the queue grows by ~200,000 jobs (~200 MB) in
a 10 s run, and Redis's AOF rewrites (triggered as the file doubles) fork and copy that whole
dataset on the same two cores, mid-measurement. A deployment's workers keep the queue short,
so its rewrites are small. The stub pops what is queued every 100 ms and deletes the job keys,
the Redis work a worker's finish step does, keeping the dataset (and each rewrite) small
without changing Redis's persistence settings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from shared.jobs import JOB_KEY_PREFIX

_POP_AND_DELETE = """
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
for i = 1, #popped, 2 do redis.call('DEL', ARGV[2] .. popped[i]) end
return #popped / 2
"""
_BATCH = 5_000
_INTERVAL_SECONDS = 0.1


@contextmanager
def queue_stub(port: int, queue_name: str) -> Iterator[None]:
    """While in the block, keep the queue at `queue_name` on the Redis at `port` drained."""
    stop = threading.Event()
    client = redis.Redis(port=port)
    pop = client.register_script(_POP_AND_DELETE)

    def run() -> None:
        while not stop.wait(_INTERVAL_SECONDS):
            while pop(keys=[queue_name], args=[_BATCH, JOB_KEY_PREFIX]) == _BATCH:
                pass

    thread = threading.Thread(target=run, name="queue-stub", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        client.close()
