"""`python -m bench.run [--quick] [--profile] [--phases http,agent,drain,e2e]`: one machine.

Creates a throwaway database and a private redis-server, runs the phases, removes everything,
writes bench/results/<timestamp>.json and prints a short table. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from bench import phases, wrk
from bench.agent import agent_phase
from bench.env import CPUS, LOAD_CPU, SERVER_CPU, create_target, open_world
from bench.scale import scale_lines, scale_phase

RESULTS = Path(__file__).resolve().parent / "results"
ALL_PHASES = ("http", "agent", "drain", "e2e", "scale")


def say(text: str = "") -> None:
    """One line on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase (smoke)")
    parser.add_argument("--profile", action="store_true", help="also py-spy ingress and worker")
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="run the services from a copy with the hot path compiled (scripts/compile-copy)",
    )
    parser.add_argument("--phases", default=",".join(ALL_PHASES), help="comma list of phases")
    parser.add_argument("--e2e-rate", type=float, default=5_000.0, help="events/s in phase d")
    parser.add_argument(
        "--drain-count", type=int, help="deliveries in phase c (100000; quick 10000)"
    )
    parser.add_argument(
        "--http-rounds",
        type=int,
        help="turns of (a) then (b) at max rate; the ratio is their median (3; quick 1)",
    )
    return parser


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when it ran (targets are reported, not enforced)."""
    args = _parser().parse_args(argv)
    wanted = [p.strip() for p in args.phases.split(",") if p.strip()]
    if unknown := set(wanted) - set(ALL_PHASES):
        say(f"unknown phase(s): {', '.join(sorted(unknown))}")
        return 2
    if {"http", "agent"} & set(wanted) and not wrk.available():
        say("wrk is needed for the http and agent phases: apt-get install -y wrk")
        return 2
    quick = args.quick
    seconds = 3.0 if quick else 10.0
    warmup = 1.0 if quick else 2.0
    drain_count = args.drain_count or (10_000 if quick else 100_000)
    http_rounds = args.http_rounds or (1 if quick else 3)
    e2e_seconds = 5.0 if quick else 30.0
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "started_at": stamp,
        "mode": "quick" if quick else "full",
        "machine": {
            "cpus": CPUS,
            "load_cpu": LOAD_CPU,
            "server_cpu": SERVER_CPU,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "git": _git_revision(),
            "loadavg_at_start": os.getloadavg(),
            "build": "compiled" if args.compiled else "pure",
        },
    }
    path = RESULTS / f"{stamp}.json"

    def save() -> None:  # after every phase, so a failed phase keeps the earlier ones
        path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))

    world = open_world(compiled=args.compiled)
    try:
        target = asyncio.run(create_target(world.database_url))
        if "http" in wanted:
            say(
                f"(a)/(b) http: wrk {seconds:.0f}s each, {http_rounds} turn(s) of (a) then (b),"
                " then fixed rate at half of (b)'s max"
            )
            results["http"] = phases.http_phase(world, target, seconds, warmup, http_rounds)
            save()
        if "agent" in wanted:
            say(f"(f) agent polling: wrk {seconds:.0f}s, remembered token, vs (a) bare")
            bare = results.get("http", {}).get("bare", {}).get("max")
            results["agent_polling"] = agent_phase(world, target, seconds, warmup, bare)
            save()
        if "drain" in wanted:
            say(f"(c) drain: {drain_count} deliveries, our worker then the naive one")
            results["drain"] = phases.drain_phase(world, target, drain_count, timeout=600)
            save()
        if "e2e" in wanted:
            say(f"(d)/(e) end to end: {args.e2e_rate:.0f}/s for {e2e_seconds:.0f}s")
            results["e2e"] = phases.e2e_phase(
                world, target, args.e2e_rate, e2e_seconds, settle_timeout=60 if quick else 300
            )
            save()
        if "scale" in wanted:
            say(f"scale: ingress --processes 1 and --processes {CPUS}, wrk {seconds:.0f}s each")
            results["scale"] = scale_phase(world, target, seconds, http_rounds)
            save()
        if args.profile:
            say("profile: py-spy on the ingress under wrk, then on the worker while it drains")
            out_dir = RESULTS / f"{stamp}-profile"
            out_dir.mkdir(exist_ok=True)
            results["profile"] = phases.profile_phase(world, target, seconds, drain_count, out_dir)
    finally:
        world.close()
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    save()
    for line in table(results):
        say(line)
    say(f"results: {os.path.relpath(path)}")
    return 0


def table(results: dict[str, Any]) -> list[str]:
    """The short human summary of a results dict."""
    machine = results["machine"]
    lines = [
        "",
        f"machine: {machine['cpus']} cpus, load average {machine['loadavg_at_start'][0]:.1f}"
        f" at start, {machine.get('loadavg_at_end', [0])[0]:.1f} at end"
        " (other work on the machine skews every number)",
        f"build: {machine.get('build', 'pure')} (the services' hot path"
        f" {'compiled with mypyc' if machine.get('build') == 'compiled' else 'in pure Python'})",
    ]
    if http := results.get("http"):
        lines.append(f"{'':34}{'rps':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
        for kind, label in (
            ("bare", "(a) bare aiohttp 202"),
            ("ingress", "(b) ingress, HMAC+limit+Redis"),
        ):
            m = http[kind]["max"]
            lines.append(
                f"{label:34}{m['rps']:>10.0f}{m['latency_ms']['p50']:>9.2f}"
                f"{m['latency_ms']['p99']:>9.2f}{m['non_2xx'] + m['socket_errors']:>9}"
            )
        rounds = ", ".join(f"{ratio:.3f}" for ratio in http["ratio_rounds"])
        lines.append(
            f"ratio b/a rps: {http['ratio_rps']:.3f}, the median of turns [{rounds}]"
            "  (target >= 0.70)"
        )
        if "server_cpu_us_per_request" in http["bare"]:
            bare, ingress = http["bare"], http["ingress"]
            lines.append(
                f"  server CPU per request: (a) {bare['server_cpu_us_per_request']:.1f} µs,"
                f" busy {bare['server_busy']:.2f}; (b) {ingress['server_cpu_us_per_request']:.1f}"
                f" µs, busy {ingress['server_busy']:.2f}; CPU ratio a/b"
                f" {bare['server_cpu_us_per_request'] / ingress['server_cpu_us_per_request']:.3f}"
            )
        for kind in ("bare", "ingress"):
            h = http[kind]["half_rate"]
            lines.append(
                f"fixed {http['half_rate_rps']}/s {kind:8} achieved {h['achieved_rate']:.0f}/s"
                f"  p50 {h['latency_ms'].get('p50')} ms  p99 {h['latency_ms'].get('p99')} ms"
                f"  p99.9 {h['latency_ms'].get('p999')} ms  statuses {h['statuses']}"
                + (f" errors {h['errors']}" if h["errors"] else "")
            )
        lines.append("  (target: ingress p99 <= 10 ms at half its max rate)")
    if drain := results.get("drain"):
        for kind in ("worker", "naive", "arq_noop", "batch_claim_prototype"):
            if (d := drain.get(kind)) is None:
                continue
            lines.append(
                f"(c) drain {kind:21} {d['stored']}/{d['deliveries']} in {d['seconds_draining']}s"
                f" = {d['per_second']}/s (from spawn {d['seconds_from_spawn']}s)"
            )
        lines.append(f"ratio worker/naive: {drain['ratio']}  (targets >= 5x, >= 10000/s)")
        lines.append("  (arq_noop: arq with a do-nothing job, the per-job ceiling of arq itself;")
        lines.append(
            "   batch_claim_prototype: bench/batch_claim.py, claim+finish 500 jobs per call)"
        )
    if e2e := results.get("e2e"):
        load = e2e["load"]
        lines.append(
            f"(d) e2e {load['target_rate']:.0f}/s: sent {load['sent']} achieved"
            f" {load['achieved_rate']:.0f}/s not sent {load['not_sent']}"
            f" statuses {load['statuses']}"
            + (f" errors {load['errors']}" if load["errors"] else "")
        )
        lines.append(
            f"    accepted {e2e['accepted']} stored {e2e['stored']} missing {e2e['missing']}"
            f" (still queued {e2e['still_queued']}; LOST {e2e['lost']})"
            f" failed {e2e['failed']} tasks {e2e['tasks_created']}"
            f" settle {e2e['seconds_to_settle_after_load']}s"
        )
        lines.append(
            f"    lag ms p50 {e2e['lag_ms']['p50']} p90 {e2e['lag_ms']['p90']}"
            f" p99 {e2e['lag_ms']['p99']} max {e2e['lag_ms']['max']}  (target p99 <= 1000)"
            f"  request p99 {load['latency_ms'].get('p99')} ms"
        )
        for name, mem in e2e["rss"].items():
            lines.append(
                f"(e) {name:8} RSS peak {mem['peak_mb']} MB  start {mem['at_load_start_mb']}"
                f"  mid {mem['at_mid_load_mb']}  end {mem['at_load_end_mb']} MB"
            )
        lines.append(
            f"    ingress growth over last {e2e['events_in_second_half']} events:"
            f" {e2e['ingress_rss_growth_second_half_mb']} MB  (target peak <= 150 MB, no growth)"
        )
    if agent := results.get("agent_polling"):
        lines.extend(_agent_lines(agent))
    if scale := results.get("scale"):
        lines.extend(scale_lines(scale))
    if prof := results.get("profile"):
        for name in ("ingress", "worker"):
            lines.append(f"profile {name}: top self time ({prof[name]['samples']} samples)")
            for row in prof[name]["by_self"][:12]:
                lines.append(f"  {row['percent']:5.1f}%  {row['function']}")
    return lines


def _agent_lines(agent: dict[str, Any]) -> list[str]:
    m = agent["max"]
    auth = agent["auth_in_window"]
    return [
        f"{'':34}{'rps':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}",
        f"{'(f) agent poll, remembered token':34}{m['rps']:>10.0f}{m['latency_ms']['p50']:>9.2f}"
        f"{m['latency_ms']['p99']:>9.2f}{m['non_2xx'] + m['socket_errors']:>9}",
        f"ratio f/a rps: {agent['ratio_rps']:.3f}  (target >= 0.50; bare rps"
        f" {agent['bare']['rps']:.0f}, {agent['bare']['source']})",
        f"    in the window: {auth.get('cached', 0)} remembered, {auth.get('pbkdf2_runs', 0)}"
        f" PBKDF2 runs; {agent['seconds_from_verification_to_window_end']}s after the"
        f" verification (memory {agent['token_memory_seconds']:.0f}s)",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
