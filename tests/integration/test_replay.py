"""Replay: one delivery or a filtered bulk walk, through the operator API and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from shared.db import Conn
from shared.queries.replay import ReplayFilter, page_query
from shared.replay import replay_matching
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.databases import PrivateDatabase
from tests.support.deliveries import make_delivery, store, work_counts
from tests.support.factories import Factory
from tests.support.operator_api import Client, OperatorApi
from tests.support.queueing import enqueue_all
from tests.support.workers import drain_queue

ROOT = Path(__file__).resolve().parents[2]


def payload_path(board: uuid.UUID, hook: uuid.UUID, payload_id: uuid.UUID) -> str:
    """The operator path of one stored delivery."""
    return f"/api/v1/boards/{board}/webhooks/{hook}/payloads/{payload_id}"


async def test_replaying_a_failed_delivery_processes_it_and_shows_in_its_history(
    client: Client, factory: Factory, db: asyncpg.Pool, settings: Settings, local_token: str
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    payload_id = await store(
        db, make_delivery(board, hook), failed="ConnectionError: gone", attempts=8
    )
    assert await work_counts(db, payload_id) == (1, 0, 0)
    api = OperatorApi(client, local_token)

    reply = await api.call("POST", payload_path(board, hook, payload_id) + "/replay")
    assert reply.status == 202
    assert reply.body["payload_id"] == str(payload_id)
    await drain_queue(settings)

    shown = (await api.call("GET", payload_path(board, hook, payload_id))).body
    assert (shown["status"], shown["attempts"], shown["last_error"]) == ("processed", 9, None)
    assert shown["processed_at"] is not None
    assert [(h["kind"], h["outcome"], h["attempt"]) for h in shown["history"]] == [
        ("delivery", "failed", 8),
        ("replay", "processed", 9),
    ]
    assert shown["history"][0]["error"] == "ConnectionError: gone"
    assert await work_counts(db, payload_id) == (1, 1, 1)


async def test_replaying_a_processed_delivery_adds_no_second_memory_or_task(
    client: Client, factory: Factory, db: asyncpg.Pool, settings: Settings, local_token: str
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    payload_id = await store(db, make_delivery(board, hook))
    api = OperatorApi(client, local_token)
    for _ in range(2):
        assert (
            await api.call("POST", payload_path(board, hook, payload_id) + "/replay")
        ).status == 202
    await drain_queue(settings)

    shown = (await api.call("GET", payload_path(board, hook, payload_id))).body
    assert (shown["status"], shown["attempts"]) == ("processed", 3)
    assert [h["kind"] for h in shown["history"]] == ["delivery", "replay", "replay"]
    assert await work_counts(db, payload_id) == (1, 1, 1)


async def test_replay_of_an_unknown_or_mismatched_delivery_is_404(
    client: Client, factory: Factory, db: asyncpg.Pool, local_token: str
) -> None:
    board, other_board = await factory.board(), await factory.board()
    hook, other_hook = await factory.webhook(board), await factory.webhook(other_board)
    payload_id = await store(db, make_delivery(board, hook))
    api = OperatorApi(client, local_token)
    for path in (
        payload_path(board, hook, uuid.uuid4()),
        payload_path(board, other_hook, payload_id),
        payload_path(other_board, hook, payload_id),
        f"/api/v1/boards/{board}/webhooks/{hook}/payloads/not-an-id",
    ):
        reply = await api.call("POST", path + "/replay")
        assert reply.status == 404, path
    anonymous = await client.post(payload_path(board, hook, payload_id) + "/replay")
    assert anonymous.status == 401


async def test_bulk_replay_filters_counts_and_replays(
    client: Client, factory: Factory, db: asyncpg.Pool, settings: Settings, local_token: str
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook, other_hook = await factory.webhook(board), await factory.webhook(board)
    base = int(time.time() * 1000) - 3_600_000
    failed = [
        await store(db, make_delivery(board, hook, received_at_ms=base + i * 1000), failed="x")
        for i in range(5)
    ]
    await store(db, make_delivery(board, hook, received_at_ms=base))
    await store(db, make_delivery(board, other_hook, received_at_ms=base), failed="x")
    api = OperatorApi(client, local_token)

    dry = await api.call(
        "POST", "/api/v1/replay", {"webhook_id": str(hook), "status": "failed", "dry_run": True}
    )
    assert (dry.status, dry.body) == (200, {"matched": 5, "replayed": 0})
    window = {
        "webhook_id": str(hook),
        "status": "failed",
        "received_after": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((base + 1000) / 1000)),
        "received_before": time.strftime(
            "%Y-%m-%dT%H:%M:%S+00:00", time.gmtime((base + 4000) / 1000)
        ),
    }
    reply = await api.call("POST", "/api/v1/replay", window)
    assert (reply.status, reply.body) == (200, {"matched": 3, "replayed": 3})
    await drain_queue(settings)
    statuses = [
        await db.fetchval("SELECT status FROM webhook_payloads WHERE id = $1", p) for p in failed
    ]
    assert statuses == ["failed", "processed", "processed", "processed", "failed"]
    everything = await api.call("POST", "/api/v1/replay", {"board_id": str(board), "dry_run": True})
    assert everything.body == {"matched": 7, "replayed": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"status": "pending"},
        {"board_id": "nope"},
        {"received_after": "yesterday"},
        {"received_after": "2024-01-02T00:00:00Z", "received_before": "2024-01-01T00:00:00Z"},
        {"dry_run": "yes"},
        {"surprise": 1},
        [],
    ],
)
async def test_bulk_replay_refuses_bad_filters_with_422(
    client: Client, db: asyncpg.Pool, local_token: str, body: object
) -> None:
    reply = await OperatorApi(client, local_token).call("POST", "/api/v1/replay", body)
    assert reply.status == 422, reply


async def _fill(db: asyncpg.Pool, board: uuid.UUID, hook: uuid.UUID, count: int) -> None:
    """`count` failed deliveries written by PostgreSQL itself (fast enough for 100,000)."""
    await db.execute(
        """
        INSERT INTO webhook_payloads (id, board_id, webhook_id, raw_body, payload, received_at,
            status, attempts, last_error)
        SELECT gen_random_uuid(), $1, $2, convert_to('{"n": ' || n || '}', 'UTF8'),
            jsonb_build_object('n', n), now() - make_interval(secs => n), 'failed', 8, 'x'
        FROM generate_series(1, $3) AS n
        """,
        board,
        hook,
        count,
    )


async def _plan_indexes(conn: Conn, sql: str, params: list[object]) -> set[str]:
    """The indexes the generic plan of `sql` (as a prepared statement would run it) reads."""
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    plan = orjson.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params))
    found: set[str] = set()
    nodes = [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        if "Index Name" in node:
            found.add(node["Index Name"])
        nodes += node.get("Plans", [])
    return found


async def test_failed_deliveries_are_paged_through_their_own_index(
    private_database: PrivateDatabase,
) -> None:
    pool = await asyncpg.create_pool(private_database.url, min_size=1, max_size=1)
    assert pool is not None
    try:
        factory = Factory(pool)
        board = await factory.board()
        hook = await factory.webhook(board)
        await _fill(pool, board, hook, 20)
        await pool.execute(
            """
            INSERT INTO webhook_payloads (id, board_id, webhook_id, raw_body, received_at,
                status, processed_at)
            SELECT gen_random_uuid(), $1, $2, '\\x7b7d', now() - make_interval(secs => n),
                'processed', now()
            FROM generate_series(1, 20000) AS n
            """,
            board,
            hook,
        )
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE webhook_payloads")
            failed = ReplayFilter(status="failed")
            first = await _plan_indexes(conn, *page_query(failed, None, 500))
            later = await _plan_indexes(
                conn, *page_query(failed, (datetime.now(UTC), uuid.uuid4()), 500)
            )
            # The index holds failed deliveries only: processed ones do not pay for an entry.
            definition = await conn.fetchval(
                "SELECT pg_get_indexdef('webhook_payloads_failed_idx'::regclass)"
            )
    finally:
        await pool.close()
    assert first == later == {"webhook_payloads_failed_idx"}
    assert definition.endswith("WHERE (status = 'failed'::text)"), definition
    assert ReplayFilter(status="failed").where() == ("status = 'failed'", [])


async def _walk(
    settings: Settings, db: asyncpg.Pool, hook: uuid.UUID, batch_size: int
) -> tuple[int, list[int]]:
    """Replay the webhook's deliveries; (jobs queued, progress reports); empties the queue."""
    redis = Redis.from_url(settings.rq_redis_url)
    reports: list[int] = []
    try:
        result = await replay_matching(
            db,
            redis,
            queue_name=settings.queue_name,
            where=ReplayFilter(webhook_id=hook),
            dry_run=False,
            batch_size=batch_size,
            batch_interval_ms=0,
            progress=lambda done, total: reports.append(done),
        )
        assert result.matched == result.replayed
        job_ids = await redis.zrange(settings.queue_name, 0, -1)
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(0, len(job_ids), 1000):
                pipe.delete(*[b"arq:job:" + k for k in job_ids[i : i + 1000]])
            pipe.delete(settings.queue_name)
            await pipe.execute()
    finally:
        await redis.aclose()
    return len(job_ids), reports


async def test_a_bulk_replay_of_100000_goes_page_by_page(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    hook = await factory.webhook(board)
    await _fill(db, board, hook, 100_000)
    queued, reports = await _walk(settings, db, hook, 1000)
    assert queued == 100_000
    assert reports == list(range(0, 100_001, 1000))  # one page of 1000 at a time


async def test_bulk_replay_memory_does_not_grow_with_the_number_of_deliveries(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    small, large = await factory.webhook(board), await factory.webhook(board)
    await _fill(db, board, small, 500)
    await _fill(db, board, large, 5000)
    peaks = []
    for hook in (small, large):
        tracemalloc.start()
        await _walk(settings, db, hook, 500)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # Ten times the deliveries, the same one page in memory: holding all 5000 job ids, keys
    # and bodies at once would take several times the small walk's peak.
    assert peaks[1] < peaks[0] * 1.5, peaks


async def test_a_fresh_delivery_overtakes_a_big_replay(
    database_url: str, local_token: str, factory: Factory, db: asyncpg.Pool
) -> None:
    settings = make_settings(
        database_url, local_token, replay_batch_size=50, replay_batch_interval_ms=200
    )
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    await _fill(db, board, hook, 1000)
    redis = Redis.from_url(settings.rq_redis_url)
    try:
        result = await replay_matching(
            db,
            redis,
            queue_name=settings.queue_name,
            where=ReplayFilter(webhook_id=hook),
            dry_run=False,
            batch_size=settings.replay_batch_size,
            batch_interval_ms=settings.replay_batch_interval_ms,
        )
        assert result.replayed == 1000
        fresh = make_delivery(board, hook)
        await enqueue_all(settings, [fresh])
        await drain_queue(settings)
    finally:
        await redis.aclose()
    order = await db.fetch("SELECT payload_id, kind FROM webhook_payload_attempts ORDER BY id")
    kinds = [
        r["kind"]
        for r in order
        if r["kind"] == "replay" or str(r["payload_id"]) == fresh.payload_id
    ]
    assert kinds.count("replay") == 1000
    # The replay's later batches were not yet due when the fresh delivery arrived.
    assert kinds.index("delivery") < 1000 - settings.replay_batch_size, kinds.index("delivery")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "RQ_REDIS_URL": settings.rq_redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "REPLAY_BATCH_SIZE": "7",
        "REPLAY_BATCH_INTERVAL_MS": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "replay", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_replay_command_counts_replays_and_summarises(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook, other = await factory.webhook(board), await factory.webhook(board)
    await _fill(db, board, hook, 20)
    one = await store(db, make_delivery(board, other), failed="x")

    dry = _cli(settings, "--webhook", str(hook), "--status", "failed", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("matched 20, would replay 20 in ")
    assert dry.stderr == ""  # not a terminal: no bar, only the summary

    real = _cli(settings, "--webhook", str(hook), "--since", "2000-01-01T00:00:00Z")
    assert real.returncode == 0, real.stderr
    assert real.stdout.startswith("matched 20, replayed 20 in ")
    by_id = _cli(settings, "--id", str(one), "--board", str(board))
    assert by_id.stdout.startswith("matched 1, replayed 1 ")
    await drain_queue(settings)
    assert await db.fetchval("SELECT count(*) FROM webhook_payloads WHERE status = 'failed'") == 0

    bad = _cli(settings, "--since", "2024-02-01", "--until", "2024-01-01")
    assert (bad.returncode, bad.stderr) == (2, "error: --since must be before --until\n")
