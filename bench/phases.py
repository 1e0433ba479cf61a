"""The measured phases: HTTP ingest (a/b), worker drain (c), end to end (d) with memory (e)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import statistics
import threading
import time
from pathlib import Path
from typing import Any, cast

import asyncpg
import orjson
import psutil
import redis

from bench import profile
from bench.env import LOAD_CPU, SERVER_CPU, Proc, Target, World, free_port, python, wait_http_ok
from bench.fill import BODY, fill_queue
from bench.queue_stub import queue_stub
from bench.wrk import run_wrk, write_script

QUEUE_NAME = "mc:queue"  # the default REDIS_NAMESPACE's queue
WRK_CONNECTIONS = 64
FIXED_CONNECTIONS = 64


def queue_depth(client: redis.Redis) -> int:
    """Jobs waiting in the delivery queue."""
    return cast(int, client.zcard(QUEUE_NAME))


def signed_headers(target: Target) -> dict[str, str]:
    """The request headers of every benchmark POST: JSON, a UA, and the HMAC signature."""
    digest = hmac.new(target.secret.encode(), BODY, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "bench/1.0",
        "X-GitHub-Event": "pull_request",
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def start_server(world: World, kind: str, **env: str) -> tuple[Proc, int]:
    """Start the bare handler or the ingress, pinned to the server core; wait until ready."""
    port = free_port()
    if kind == "bare":
        proc = world.spawn("bare", python("bench.bare", "--port", str(port)), cpu=SERVER_CPU)
    else:
        argv = python("cli.main", "ingress", "--host", "127.0.0.1", "--port", str(port))
        proc = world.spawn("ingress", argv, cpu=SERVER_CPU, **env)
    wait_http_ok(port, proc)
    return proc, port


def server_cpu_seconds(proc: Proc) -> float:
    """CPU time (user + system) the process has used so far."""
    times = psutil.Process(proc.pid).cpu_times()
    return float(times.user + times.system)


def server_wrk(proc: Proc, url: str, script: Path, seconds: float) -> dict[str, Any]:
    """`run_wrk` against the server `proc`, plus its CPU per request and how busy it was.

    `server_busy` is the server's CPU time over wrk's run time: a server short of 1.0 spent the
    rest waiting (for Redis, say) with requests still open, so its rps lags its CPU cost.
    """
    before = server_cpu_seconds(proc)
    result = run_wrk(url, script, seconds=seconds, connections=WRK_CONNECTIONS)
    used = server_cpu_seconds(proc) - before
    result["server_cpu_us_per_request"] = round(1e6 * used / max(result["requests"], 1), 1)
    result["server_busy"] = round(used / result["seconds"], 3) if result["seconds"] else None
    return result


def wrk_rounds(
    world: World, target: Target, seconds: float, warmup: float, rounds: int
) -> dict[str, list[dict[str, Any]]]:
    """Max rate of the signed POST with wrk, bare and ingress taking turns `rounds` times.

    Both servers run throughout (pinned to the server core; the idle one costs nothing), so
    each ingress run is measured right after a bare run, under the same machine conditions.
    """
    script = write_script(world.folder, BODY.decode(), signed_headers(target))
    servers: dict[str, tuple[Proc, int]] = {}
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "ingress": []}
    try:
        for kind in runs:
            servers[kind] = start_server(world, kind)
        urls = {
            kind: f"http://127.0.0.1:{port}{target.path}" for kind, (_, port) in servers.items()
        }
        with queue_stub(world.redis_port, QUEUE_NAME):
            for url in urls.values():
                run_wrk(url, script, seconds=warmup, connections=WRK_CONNECTIONS)
            for _ in range(rounds):
                for kind, url in urls.items():
                    runs[kind].append(server_wrk(servers[kind][0], url, script, seconds))
    finally:
        for proc, _ in servers.values():
            world.stop(proc)
        world.flush_redis()
    return runs


def fixed_rate(
    world: World, port: int, target: Target, rate: float, seconds: float, ids_out: Path | None
) -> dict[str, Any]:
    """Run bench.loadgen (pinned to the load core) at `rate` req/s for `seconds`."""
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "path": target.path,
        "headers": signed_headers(target),
        "body": BODY.decode(),
        "rate": rate,
        "duration": seconds,
        "connections": FIXED_CONNECTIONS,
        "ids_out": str(ids_out) if ids_out else None,
    }
    spec_path = world.folder / "loadgen-spec.json"
    out_path = world.folder / "loadgen-out.json"
    spec_path.write_bytes(orjson.dumps(spec))
    out_path.unlink(missing_ok=True)
    proc = world.spawn(
        "loadgen", python("bench.loadgen", str(spec_path), str(out_path)), cpu=LOAD_CPU
    )
    try:
        proc.popen.wait(timeout=seconds + 120)
    finally:
        world.stop(proc)
    if not out_path.exists():
        raise RuntimeError(f"load generator failed:\n{proc.tail()}")
    result: dict[str, Any] = orjson.loads(out_path.read_bytes())
    return result


def http_phase(
    world: World, target: Target, seconds: float, warmup: float, rounds: int
) -> dict[str, Any]:
    """(a) bare vs (b) ingress at max rate with wrk, taking turns `rounds` times; then both at
    half of (b)'s max, fixed rate.

    The ratio is the median of the per-round ratios (each ingress run against the bare run
    just before it); each kind's "max" is its median run.
    """
    runs = wrk_rounds(world, target, seconds, warmup, rounds)
    pairs = zip(runs["bare"], runs["ingress"], strict=True)
    ratios = [ingress["rps"] / bare["rps"] for bare, ingress in pairs]
    results: dict[str, Any] = {
        kind: {"max": sorted(kind_runs, key=lambda run: run["rps"])[len(kind_runs) // 2]}
        for kind, kind_runs in runs.items()
    }
    for kind, kind_runs in runs.items():
        results[kind]["rounds_rps"] = [run["rps"] for run in kind_runs]
        results[kind]["server_cpu_us_per_request"] = statistics.median(
            run["server_cpu_us_per_request"] for run in kind_runs
        )
        results[kind]["server_busy"] = statistics.median(run["server_busy"] for run in kind_runs)
    results["ratio_rps"] = round(statistics.median(ratios), 3)
    results["ratio_rounds"] = [round(ratio, 3) for ratio in ratios]
    half = round(results["ingress"]["max"]["rps"] / 2)
    for kind in ("bare", "ingress"):
        proc, port = start_server(world, kind)
        try:
            with queue_stub(world.redis_port, QUEUE_NAME):
                fixed_rate(world, port, target, half / 4, warmup, None)  # warm-up
                results[kind]["half_rate"] = fixed_rate(world, port, target, half, seconds, None)
        finally:
            world.stop(proc)
        world.flush_redis()
    results["half_rate_rps"] = half
    return results


async def _reset_tables(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("TRUNCATE webhook_payloads CASCADE")
    finally:
        await conn.close()


async def _count_payloads(conn: asyncpg.Connection) -> int:
    value = await conn.fetchval("SELECT count(*) FROM webhook_payloads")
    return int(value)


def drain_one(
    world: World, target: Target, kind: str, count: int, timeout: float, spy_seconds: float = 0
) -> dict[str, Any]:
    """Fill the queue with `count` deliveries, start one worker, time it until all are stored."""
    asyncio.run(_reset_tables(world.database_url))
    world.flush_redis()
    fill_seconds = asyncio.run(fill_queue(world.redis_url, QUEUE_NAME, target, count))
    module = {
        "worker": ("cli.main", "worker"),
        "naive": ("bench.naive_worker",),
        "batch_claim_prototype": ("bench.batch_claim",),
    }.get(kind, ("bench.naive_worker",))
    if kind == "noop":
        return asyncio.run(_time_noop(world, count, timeout, fill_seconds))
    return asyncio.run(_time_drain(world, kind, module, count, timeout, fill_seconds, spy_seconds))


async def _time_drain(
    world: World,
    kind: str,
    module: tuple[str, ...],
    count: int,
    timeout: float,
    fill_seconds: float,
    spy_seconds: float,
) -> dict[str, Any]:
    conn = await asyncpg.connect(world.database_url)
    queue = redis.Redis(port=world.redis_port)
    spawned = time.perf_counter()
    proc = world.spawn(kind, python(*module), cpu=SERVER_CPU)
    first_progress: float | None = None
    stored = 0
    spy = None
    try:
        deadline = spawned + timeout
        while time.perf_counter() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{kind} exited:\n{proc.tail()}")
            if first_progress is None and queue_depth(queue) < count:
                first_progress = time.perf_counter()
                if spy_seconds:
                    spy = profile.record(proc.pid, spy_seconds, world.folder / f"{kind}.collapsed")
            stored = await _count_payloads(conn)
            if stored >= count:
                break
            await asyncio.sleep(0.05)
        finished = time.perf_counter()
        if spy is not None:
            spy.wait(timeout=spy_seconds + 30)
    finally:
        world.stop(proc)
        queue.close()
        await conn.close()
    started = first_progress or spawned
    busy = finished - started
    return {
        "deliveries": count,
        "stored": stored,
        "complete": stored >= count,
        "fill_seconds": round(fill_seconds, 2),
        "seconds_from_spawn": round(finished - spawned, 2),
        "seconds_draining": round(busy, 2),
        "per_second": round(stored / busy, 1) if busy > 0 else None,
    }


async def _time_noop(
    world: World, count: int, timeout: float, fill_seconds: float
) -> dict[str, Any]:
    """arq with a job function that does nothing: time until the queue is empty."""
    queue = redis.Redis(port=world.redis_port)
    spawned = time.perf_counter()
    proc = world.spawn("noop", python("bench.naive_worker"), cpu=SERVER_CPU, BENCH_NOOP="1")
    first_progress: float | None = None
    left = count
    try:
        while time.perf_counter() < spawned + timeout:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"noop worker exited:\n{proc.tail()}")
            left = queue_depth(queue)
            if first_progress is None and left < count:
                first_progress = time.perf_counter()
            if left == 0:
                break
            await asyncio.sleep(0.05)
        finished = time.perf_counter()
    finally:
        world.stop(proc)
        queue.close()
    busy = finished - (first_progress or spawned)
    return {
        "deliveries": count,
        "stored": count - left,
        "complete": left == 0,
        "fill_seconds": round(fill_seconds, 2),
        "seconds_from_spawn": round(finished - spawned, 2),
        "seconds_draining": round(busy, 2),
        "per_second": round((count - left) / busy, 1) if busy > 0 else None,
    }


def drain_phase(world: World, target: Target, count: int, timeout: float) -> dict[str, Any]:
    """(c) our worker vs the naive one-INSERT-per-job worker, same pre-filled queue."""
    ours = drain_one(world, target, "worker", count, timeout)
    naive = drain_one(world, target, "naive", count, timeout)
    # Not a delivery worker: arq's own per-job cost, the ceiling of any one-job-per-delivery design.
    noop = drain_one(world, target, "noop", count, timeout)
    # Not a delivery worker either: how fast batch claiming would let the real row code go.
    prototype = drain_one(world, target, "batch_claim_prototype", count, timeout)
    ratio = None
    if ours["per_second"] and naive["per_second"]:
        ratio = round(ours["per_second"] / naive["per_second"], 2)
    return {
        "worker": ours,
        "naive": naive,
        "arq_noop": noop,
        "batch_claim_prototype": prototype,
        "ratio": ratio,
    }


class RssSampler:
    """Samples the resident set size of some processes every `interval` seconds."""

    def __init__(self, procs: dict[str, Proc], interval: float = 0.25) -> None:
        self._procs = {name: psutil.Process(p.pid) for name, p in procs.items()}
        self._interval = interval
        self.samples: dict[str, list[tuple[float, int]]] = {name: [] for name in procs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._t0 = time.perf_counter()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.perf_counter() - self._t0
            for name, proc in self._procs.items():
                try:
                    rss = proc.memory_info().rss + sum(
                        c.memory_info().rss for c in proc.children(recursive=True)
                    )
                except psutil.Error:
                    continue
                self.samples[name].append((now, rss))
            self._stop.wait(self._interval)

    def summary(self, load_start: float, load_end: float) -> dict[str, Any]:
        """Peak RSS per process, and the ingress's growth over the second half of the load."""
        out: dict[str, Any] = {}
        for name, series in self.samples.items():
            if not series:
                continue
            during = [rss for t, rss in series if load_start <= t <= load_end] or [series[-1][1]]
            mid = load_start + (load_end - load_start) / 2
            half = [rss for t, rss in series if mid <= t <= load_end]
            out[name] = {
                "peak_mb": round(max(r for _, r in series) / 2**20, 1),
                "at_load_start_mb": round(during[0] / 2**20, 1),
                "at_mid_load_mb": round(half[0] / 2**20, 1) if half else None,
                "at_load_end_mb": round(during[-1] / 2**20, 1),
            }
        return out

    def elapsed(self) -> float:
        """Seconds since the sampler was created (the samples' clock)."""
        return time.perf_counter() - self._t0


def e2e_phase(
    world: World, target: Target, rate: float, seconds: float, settle_timeout: float
) -> dict[str, Any]:
    """(d) fixed rate into ingress + 1 worker; every 202 must reach PostgreSQL. (e) RSS."""
    asyncio.run(_reset_tables(world.database_url))
    world.flush_redis()
    ingress, port = start_server(world, "ingress")
    worker = world.spawn("worker", python("cli.main", "worker"))
    ids_path = world.folder / "accepted.ids"
    try:
        with RssSampler({"ingress": ingress, "worker": worker}) as sampler:
            time.sleep(1.0)  # baseline samples
            load_start = sampler.elapsed()
            load = fixed_rate(world, port, target, rate, seconds, ids_path)
            load_end = sampler.elapsed()
            ids = [line for line in ids_path.read_bytes().split(b"\n") if line]
            check = asyncio.run(
                _check_stored(world.database_url, world.redis_port, ids, settle_timeout)
            )
            time.sleep(0.5)
        memory = sampler.summary(load_start, load_end)
    finally:
        world.stop(worker)
        world.stop(ingress)
    ingress_mem = memory.get("ingress", {})
    growth = None
    if ingress_mem.get("at_mid_load_mb") is not None:
        growth = round(ingress_mem["at_load_end_mb"] - ingress_mem["at_mid_load_mb"], 1)
    return {
        "load": load,
        "accepted": len(ids),
        **check,
        "rss": memory,
        "ingress_rss_growth_second_half_mb": growth,
        "events_in_second_half": int(load["sent"] / 2),
    }


async def _check_stored(
    database_url: str, redis_port: int, raw_ids: list[bytes], timeout: float
) -> dict[str, Any]:
    """Wait (bounded) until every accepted id is stored; missing with nothing queued is lost."""
    ids = [i.decode() for i in raw_ids]
    queue = redis.Redis(port=redis_port)
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.perf_counter() + timeout
        settle_started = time.perf_counter()
        rows: list[asyncpg.Record] = []
        stalled = 0
        while True:
            before = len(rows)
            rows = await conn.fetch(
                "SELECT id, status, extract(epoch FROM processed_at - received_at) AS lag"
                " FROM webhook_payloads WHERE id = ANY($1::uuid[])",
                ids,
            )
            if len(rows) >= len(ids) or time.perf_counter() > deadline:
                break
            # Nothing queued and nothing new stored for 2 s: the rest is not coming.
            stalled = stalled + 1 if len(rows) == before and queue_depth(queue) == 0 else 0
            if stalled >= 8:
                break
            await asyncio.sleep(0.25)
        settle = time.perf_counter() - settle_started
        queue_left = queue_depth(queue)
        tasks = await conn.fetchval(
            "SELECT count(*) FROM tasks WHERE payload_id = ANY($1::uuid[])", ids
        )
    finally:
        await conn.close()
        queue.close()
    lags = sorted(float(r["lag"]) for r in rows if r["lag"] is not None)

    def pick(q: float) -> float | None:
        return round(lags[min(len(lags) - 1, int(q * len(lags)))] * 1000, 1) if lags else None

    return {
        "stored": len(rows),
        # Still queued when the settle timeout hit is backlog; missing with nothing queued is lost.
        "missing": len(ids) - len(rows),
        "still_queued": queue_left,
        "lost": len(ids) - len(rows) if queue_left == 0 else None,
        "failed": sum(1 for r in rows if r["status"] != "processed"),
        "tasks_created": int(tasks),
        "seconds_to_settle_after_load": round(settle, 2),
        "lag_ms": {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": pick(1.0)},
    }


def profile_phase(
    world: World, target: Target, seconds: float, drain_count: int, out_dir: Path
) -> dict[str, Any]:
    """py-spy the ingress under wrk load and the worker while it drains."""
    script = write_script(world.folder, BODY.decode(), signed_headers(target))
    proc, port = start_server(world, "ingress")
    url = f"http://127.0.0.1:{port}{target.path}"
    ingress_out = out_dir / "ingress.collapsed"
    try:
        run_wrk(url, script, seconds=1, connections=WRK_CONNECTIONS)
        spy = profile.record(proc.pid, seconds, ingress_out)
        under_spy = run_wrk(url, script, seconds=seconds + 1, connections=WRK_CONNECTIONS)
        spy.wait(timeout=seconds + 30)
    finally:
        world.stop(proc)
    world.flush_redis()
    drain = drain_one(world, target, "worker", min(drain_count, 20_000), 600, spy_seconds=seconds)
    (world.folder / "worker.collapsed").replace(out_dir / "worker.collapsed")
    results = {
        "ingress": {"wrk_under_profiler": under_spy, **profile.analyse(ingress_out)},
        "worker": {"drain_under_profiler": drain, **profile.analyse(out_dir / "worker.collapsed")},
    }
    return results
