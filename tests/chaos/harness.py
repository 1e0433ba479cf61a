"""A steady sender against real processes while faults happen, then an exact account.

Runs an ingress and two workers as real processes on a private database and a private Redis,
sends deliveries at a steady rate, and during the run: restarts Redis, makes PostgreSQL
unavailable, SIGKILLs a worker mid-batch and SIGTERMs the ingress (graceful; a new one takes
over). Afterwards every delivery that got a 202 must be in PostgreSQL exactly once, processed,
with one task; refused requests got 503/429 or no connection, never a 202; no job is left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from redis.asyncio import Redis

from shared.db import create_pool
from tests.chaos.processes import ServiceProcess, wait_ready
from tests.support.databases import PrivateDatabase
from tests.support.factories import Factory
from tests.support.servers import PrivateRedis, free_port

log = logging.getLogger("chaos")


@dataclass(frozen=True)
class ChaosConfig:
    """How long, how fast, and how many rounds of faults."""

    duration_seconds: float = 30.0
    rate_per_second: float = 100.0
    fault_rounds: int = 1
    settle_timeout_seconds: float = 120.0
    job_timeout_seconds: int = 3


@dataclass
class ChaosReport:
    """What happened, counted."""

    sent: int = 0
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    persisted: int = 0
    processed: int = 0
    duplicates: int = 0
    stored_not_accepted: int = 0
    missing: int = 0
    tasks_missing: int = 0
    unexpected: dict[str, int] = field(default_factory=dict)
    jobs_left: int = 0
    faults: list[str] = field(default_factory=list)
    rss_mb: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing twice, nothing unexpected, nothing stuck."""
        return (
            self.missing == 0
            and self.duplicates == 0
            and self.tasks_missing == 0
            and not self.unexpected
            and self.jobs_left == 0
            and self.persisted == self.accepted
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "ok": self.ok}


class Sender:
    """Posts unique deliveries at a steady rate and remembers every answer."""

    def __init__(self, url: str, rate: float) -> None:
        self.url = url
        self.rate = rate
        self.accepted: set[str] = set()
        self.outcomes: Counter[str] = Counter()
        self.sent = 0

    async def run(self, seconds: float) -> None:
        """Send for `seconds`, at most 200 requests in flight."""
        limit = asyncio.Semaphore(200)
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            tasks: set[asyncio.Task[None]] = set()
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < seconds:
                due = int(elapsed * self.rate) + 1
                while self.sent < due:
                    await limit.acquire()
                    task = asyncio.create_task(self._one(session, self.sent, limit))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    self.sent += 1
                await asyncio.sleep(1 / self.rate)
            await asyncio.gather(*tasks)

    async def _one(
        self, session: aiohttp.ClientSession, seq: int, limit: asyncio.Semaphore
    ) -> None:
        try:
            async with session.post(self.url, json={"seq": seq, "at": time.time()}) as response:
                body = await response.read()
                if response.status == 202:
                    self.accepted.add(orjson.loads(body)["payload_id"])
                self.outcomes[str(response.status)] += 1
        except (aiohttp.ClientError, TimeoutError, OSError):
            self.outcomes["no_connection"] += 1
        finally:
            limit.release()


class Cluster:
    """Private Redis and database, one ingress and two workers."""

    def __init__(self, folder: Path, database: PrivateDatabase, config: ChaosConfig) -> None:
        self.folder = folder
        self.database = database
        self.redis = PrivateRedis(folder / "redis", appendonly=True)
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database.url,
            "RQ_REDIS_URL": self.redis.url,
            "AUTH_MODE": "local",
            "LOCAL_AUTH_TOKEN": secrets.token_urlsafe(48),
            "REDIS_NAMESPACE": f"chaos{secrets.token_hex(4)}",
            "WEBHOOK_RATE_LIMIT": "1000000000/1",
            "WORKER_METRICS_PORT": "0",
            "WORKER_JOB_TIMEOUT_SECONDS": str(config.job_timeout_seconds),
            "WORKER_RETRY_BASE_SECONDS": "0.2",
            "WORKER_RETRY_MAX_SECONDS": "2",
            "WORKER_MAX_TRIES": "50",
            "LOG_LEVEL": "WARNING",
        }
        self.ingress = self._process(
            "ingress", ["ingress", "--host", "127.0.0.1", "--port", str(self.port)]
        )
        self.workers = [self._process(f"worker-{i}", ["worker"]) for i in range(2)]

    def _process(self, name: str, args: list[str]) -> ServiceProcess:
        return ServiceProcess(name, args, self.env, self.folder)

    @property
    def base_url(self) -> str:
        """The ingress's URL."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Redis, then the ingress and workers."""
        (self.folder / "redis").mkdir(exist_ok=True)
        self.redis.start()
        self.ingress.start()
        for worker in self.workers:
            worker.start()
        await wait_ready(self.base_url + "/readyz")

    def stop(self) -> None:
        """Everything down."""
        self.ingress.stop()
        for worker in self.workers:
            worker.stop()
        self.redis.stop()

    def sample_rss(self, report: ChaosReport) -> None:
        """Record the processes' resident memory."""
        for process in [self.ingress, *self.workers]:
            report.rss_mb.setdefault(process.name, []).append(round(process.rss_bytes() / 2**20, 1))


async def _faults(cluster: Cluster, config: ChaosConfig, report: ChaosReport) -> None:
    """Each round, spread over its share of the run: Redis, PostgreSQL, worker, ingress."""
    round_seconds = config.duration_seconds / config.fault_rounds

    async def restart_redis() -> None:
        cluster.redis.stop()  # SIGTERM: the append-only file is flushed
        await asyncio.sleep(1.5)
        cluster.redis.start()

    async def postgres_outage() -> None:
        await cluster.database.block()
        await asyncio.sleep(3)
        await cluster.database.unblock()

    async def kill_worker() -> None:
        cluster.workers[0].signal(signal.SIGKILL)
        cluster.workers[0].wait(5)
        await asyncio.sleep(1)
        cluster.workers[0].start()

    async def restart_ingress() -> None:
        old = cluster.ingress
        old.signal(signal.SIGTERM)  # graceful: requests in flight finish
        await asyncio.to_thread(old.wait, 40)
        cluster.ingress = cluster._process(old.name, old.args)
        cluster.ingress.start()
        await wait_ready(cluster.base_url + "/healthz")

    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("restart redis", restart_redis),
        ("postgres unavailable 3 s", postgres_outage),
        ("SIGKILL worker", kill_worker),
        ("SIGTERM ingress", restart_ingress),
    ]
    for round_index in range(config.fault_rounds):
        for name, action in steps:
            await asyncio.sleep(round_seconds / (len(steps) + 1))
            report.faults.append(f"round {round_index + 1}: {name}")
            log.info("fault: %s", name)
            await action()
            cluster.sample_rss(report)


async def _settle(cluster: Cluster, accepted: set[str], timeout: float) -> None:
    """Wait until every accepted delivery is stored and the queue is empty.

    Jobs a killed worker had started wait for their in-progress mark to expire (job timeout
    + 10 s) before another worker runs them again.
    """
    deadline = time.monotonic() + timeout
    ids = [uuid.UUID(i) for i in accepted]
    conn = await asyncpg.connect(cluster.database.url)
    redis = Redis.from_url(cluster.redis.url)
    try:
        while time.monotonic() < deadline:
            stored = await conn.fetchval(
                "SELECT count(*) FROM webhook_payloads WHERE id = ANY($1::uuid[])", ids
            )
            queued = await redis.zcard(cluster.env["REDIS_NAMESPACE"] + ":queue")
            if stored >= len(ids) and queued == 0:
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
        await redis.aclose()


async def _account(cluster: Cluster, sender: Sender, report: ChaosReport) -> None:
    report.sent = sender.sent
    report.accepted = len(sender.accepted)
    report.refused = {
        k: v for k, v in sender.outcomes.items() if k in ("503", "429", "no_connection")
    }
    report.unexpected = {
        k: v for k, v in sender.outcomes.items() if k not in ("202", "503", "429", "no_connection")
    }
    ids = [uuid.UUID(i) for i in sender.accepted]
    conn = await asyncpg.connect(cluster.database.url)
    try:
        rows = await conn.fetch(
            "SELECT p.id, p.status,"
            " (SELECT count(*) FROM tasks t WHERE t.payload_id = p.id) AS tasks"
            " FROM webhook_payloads p WHERE p.id = ANY($1::uuid[])",
            ids,
        )
        total_rows = await conn.fetchval("SELECT count(*) FROM webhook_payloads")
        # The sender never sends a sequence number twice: one stored twice was duplicated.
        twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT payload->>'seq' FROM webhook_payloads"
            " GROUP BY 1 HAVING count(*) > 1) AS d"
        )
    finally:
        await conn.close()
    report.persisted = len(rows)
    report.processed = sum(1 for r in rows if r["status"] == "processed")
    report.missing = len(ids) - len(rows)
    report.tasks_missing = sum(1 for r in rows if r["tasks"] != 1)
    report.duplicates = int(twice)
    # A request answered 503 because Redis replied too late may still have been queued:
    # at least once, never lost. Counted, not a failure.
    report.stored_not_accepted = int(total_rows) - len(rows)
    redis = Redis.from_url(cluster.redis.url)
    try:
        report.jobs_left = int(await redis.zcard(cluster.env["REDIS_NAMESPACE"] + ":queue"))
    finally:
        await redis.aclose()


async def run_chaos(config: ChaosConfig) -> ChaosReport:
    """Run the whole scenario and return the account."""
    report = ChaosReport()
    database = await PrivateDatabase.create("chaos")
    folder = Path(tempfile.mkdtemp(prefix="mc-chaos-"))
    cluster = Cluster(folder, database, config)
    try:
        pool = await create_pool(database.url, min_size=1, max_size=2)
        try:
            factory = Factory(pool)
            board = await factory.board("chaos")
            await factory.agent(board, "lead", lead=True)
            hook = await factory.webhook(board, description="chaos")
        finally:
            await pool.close()
        await cluster.start()
        cluster.sample_rss(report)
        sender = Sender(
            f"{cluster.base_url}/api/v1/boards/{board}/webhooks/{hook}", config.rate_per_second
        )
        await asyncio.gather(sender.run(config.duration_seconds), _faults(cluster, config, report))
        await _settle(cluster, sender.accepted, config.settle_timeout_seconds)
        cluster.sample_rss(report)
        await _account(cluster, sender, report)
    finally:
        cluster.stop()
        await database.drop()
    report_logs(folder, report)
    return report


def report_logs(folder: Path, report: ChaosReport) -> None:
    """Point at the process logs when something went wrong."""
    if not report.ok:
        log.error("chaos run failed; process logs are in %s", folder)
