"""Phase `scale`: does `mission-control ingress --processes N` scale with cores?

The same signed POST as (a)/(b), at max rate with wrk, against `ingress --processes 1` and
`ingress --processes N` (N = the machine's cores), taking turns. Nothing is pinned: the N
processes, wrk, Redis and PostgreSQL share every core, as they would on one machine. Besides
rps, each run records the CPU the ingress's processes used per request (the parent and every
child): if that stays flat from 1 to N processes, the processes share nothing that limits them
and throughput grows with the cores they get. On a machine where the load generator shares the
cores, rps can only grow as far as the cores left over allow.
"""

from __future__ import annotations

import statistics
from typing import Any

import psutil

from bench.env import CPUS, Proc, Target, World, free_port, python, wait_http_ok
from bench.fill import BODY
from bench.phases import QUEUE_NAME, signed_headers
from bench.queue_stub import queue_stub
from bench.wrk import run_wrk, write_script

CONNECTIONS = 128


def tree_cpu_seconds(proc: Proc) -> float:
    """CPU time (user + system) of a process and all its living children."""
    root = psutil.Process(proc.pid)
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def scale_phase(world: World, target: Target, seconds: float, rounds: int) -> dict[str, Any]:
    """rps and ingress CPU per request with 1 and with CPUS processes, `rounds` turns each."""
    counts = sorted({1, CPUS})
    script = write_script(world.folder, BODY.decode(), signed_headers(target))
    servers: dict[int, tuple[Proc, str]] = {}
    runs: dict[int, list[dict[str, Any]]] = {count: [] for count in counts}
    try:
        for count in counts:
            port = free_port()
            argv = python("cli.main", "ingress", "--host", "127.0.0.1", "--port", str(port))
            proc = world.spawn(f"ingress-x{count}", [*argv, "--processes", str(count)])
            wait_http_ok(port, proc)
            servers[count] = (proc, f"http://127.0.0.1:{port}{target.path}")
        with queue_stub(world.redis_port, QUEUE_NAME):
            for _, url in servers.values():  # warm-up
                run_wrk(url, script, seconds=2, connections=CONNECTIONS, threads=2, pin=False)
            for _ in range(rounds):
                for count, (proc, url) in servers.items():
                    before = tree_cpu_seconds(proc)
                    run = run_wrk(
                        url, script, seconds=seconds, connections=CONNECTIONS, threads=2, pin=False
                    )
                    used = tree_cpu_seconds(proc) - before
                    run["ingress_cpu_us_per_request"] = round(
                        1e6 * used / max(run["requests"], 1), 1
                    )
                    run["ingress_cores_busy"] = round(used / run["seconds"], 2)
                    runs[count].append(run)
    finally:
        for proc, _ in servers.values():
            world.stop(proc)
        world.flush_redis()
    return summarise(runs)


def summarise(runs: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median rps, CPU per request and cores busy per process count; ratios to one process."""
    result: dict[str, Any] = {"cpus": CPUS, "connections": CONNECTIONS, "by_processes": {}}
    for count, count_runs in runs.items():
        result["by_processes"][str(count)] = {
            "rps": statistics.median(run["rps"] for run in count_runs),
            "rounds_rps": [run["rps"] for run in count_runs],
            "ingress_cpu_us_per_request": statistics.median(
                run["ingress_cpu_us_per_request"] for run in count_runs
            ),
            "ingress_cores_busy": statistics.median(
                run["ingress_cores_busy"] for run in count_runs
            ),
            "non_2xx": sum(run["non_2xx"] + run["socket_errors"] for run in count_runs),
        }
    most = str(max(runs))
    if most != "1":
        pairs = zip(runs[1], runs[int(most)], strict=True)
        result["rps_ratio"] = round(statistics.median(b["rps"] / a["rps"] for a, b in pairs), 3)
    return result


def scale_lines(scale: dict[str, Any]) -> list[str]:
    """The table lines of the phase."""
    lines = []
    for count, row in scale["by_processes"].items():
        lines.append(
            f"(scale) ingress --processes {count:<2} {row['rps']:>10.0f} rps, ingress CPU"
            f" {row['ingress_cpu_us_per_request']:.1f} µs/request, {row['ingress_cores_busy']:.2f}"
            f" cores busy, non-2xx {row['non_2xx']}"
        )
    if "rps_ratio" in scale:
        lines.append(
            f"    rps with {scale['cpus']} processes / 1 process: {scale['rps_ratio']:.3f}"
            f" (wrk, Redis and PostgreSQL share the same {scale['cpus']} cores)"
        )
    return lines
