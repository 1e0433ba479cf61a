"""The ladder from the bare handler to the ingress, measured side by side.

`python -m bench.ladder` starts the bare handler, each level of `bench/ladder_server.py` and
the ingress (all pinned to the server core), then runs `wrk` against each in turn, several
turns, and prints each server's rps and CPU time per request (from `psutil`) as the median
over the turns. A step's cost is the difference to the row above it. On a noisy host only
steps larger than the turn-to-turn spread (printed) mean anything.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from bench.env import (
    SERVER_CPU,
    Proc,
    World,
    create_target,
    free_port,
    open_world,
    python,
    wait_http_ok,
)
from bench.fill import BODY
from bench.ladder_server import LEVELS
from bench.phases import QUEUE_NAME, WRK_CONNECTIONS, server_wrk, signed_headers, start_server
from bench.queue_stub import queue_stub
from bench.run import say
from bench.wrk import run_wrk, write_script


def _start_level(
    world: World, level: int, board: str, webhook: str, secret: str
) -> tuple[Proc, int]:
    port = free_port()
    argv = python(
        "bench.ladder_server", "--port", str(port), "--level", str(level),
        "--board", board, "--webhook", webhook,
    )  # fmt: skip
    proc = world.spawn(f"ladder-{level}", argv, cpu=SERVER_CPU, LADDER_WEBHOOK_SECRET=secret)
    wait_http_ok(port, proc)
    return proc, port


def run(world: World, rounds: int, seconds: float) -> list[tuple[str, list[float], list[float]]]:
    """(server, rps per turn, CPU µs per request per turn) for each server, bare first."""
    target = asyncio.run(create_target(world.database_url))
    script = write_script(world.folder, BODY.decode(), signed_headers(target))
    servers: dict[str, tuple[Proc, int]] = {}
    try:
        servers["(a) bare handler"] = start_server(world, "bare")
        for level, what in LEVELS.items():
            servers[f"{level} {what}"] = _start_level(
                world, level, str(target.board_id), str(target.webhook_id), target.secret
            )
        servers["(b) the ingress"] = start_server(world, "ingress")
        runs: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in servers}
        with queue_stub(world.redis_port, QUEUE_NAME):
            for _, port in servers.values():  # warm-up
                run_wrk(
                    f"http://127.0.0.1:{port}{target.path}",
                    script,
                    seconds=2,
                    connections=WRK_CONNECTIONS,
                )
            for _ in range(rounds):
                for name, (proc, port) in servers.items():
                    url = f"http://127.0.0.1:{port}{target.path}"
                    result = server_wrk(proc, url, script, seconds)
                    if result["non_2xx"] or result["socket_errors"]:
                        raise RuntimeError(f"{name}: {result} (log: {proc.tail()})")
                    rps, cpu = runs[name]
                    rps.append(result["rps"])
                    cpu.append(result["server_cpu_us_per_request"])
    finally:
        for proc, _ in servers.values():
            world.stop(proc)
    return [(name, rps, cpu) for name, (rps, cpu) in runs.items()]


def main(argv: list[str] | None = None) -> int:
    """Run the ladder and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="turns of every server (5)")
    parser.add_argument("--seconds", type=float, default=4.0, help="wrk seconds per run (4)")
    args = parser.parse_args(argv)
    world = open_world()
    try:
        rows = run(world, args.rounds, args.seconds)
    finally:
        world.close()
    say(f"{'server':68s} {'rps':>7s} {'µs/req':>7s}  µs/req per turn")
    for name, rps, cpu in rows:
        turns = " ".join(f"{value:.0f}" for value in cpu)
        say(f"{name:68s} {statistics.median(rps):7.0f} {statistics.median(cpu):7.1f}  {turns}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
