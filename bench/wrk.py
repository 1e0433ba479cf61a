"""Closed-loop maximum throughput with wrk (C, one thread, pinned to the load core)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson

from bench.env import LOAD_CPU, pinned

_MARK = "BENCH_JSON "

# wrk's done() hook prints our numbers as one JSON line (latency in microseconds).
_SCRIPT = """
wrk.method = {method}
{body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(
    folder: Path,
    body: str | None,
    headers: dict[str, str],
    *,
    method: str = "POST",
    name: str = "post.lua",
) -> Path:
    """A wrk Lua script that sends `method` with `headers` (and `body` unless None)."""
    lines = "\n".join(
        f"wrk.headers[{_lua_string(key)}] = {_lua_string(value)}" for key, value in headers.items()
    )
    body_line = f"wrk.body = {_lua_string(body)}" if body is not None else ""
    path = folder / name
    path.write_text(
        _SCRIPT.format(method=_lua_string(method), body=body_line, headers=lines, mark=_MARK)
    )
    return path


def available() -> bool:
    """Whether wrk is installed."""
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, script: Path, *, seconds: float, connections: int, threads: int = 1, pin: bool = True
) -> dict[str, Any]:
    """Run wrk for `seconds` and return rps, latency percentiles (ms) and error counts.

    wrk runs on the load core with one thread unless told otherwise (`pin=False` lets it
    share every core, for the multi-process phase)."""
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "-s",
        str(script),
        url,
    ]
    if pin:
        argv = pinned(LOAD_CPU, argv)
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith(_MARK))
    raw = orjson.loads(line[len(_MARK) :])
    seconds_run = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("connect", "read", "write", "timeout"))
    return {
        "rps": round(raw["requests"] / seconds_run, 1),
        "requests": raw["requests"],
        "seconds": round(seconds_run, 3),
        "non_2xx": raw["non2xx"],
        "socket_errors": errors,
        "latency_ms": {
            "p50": raw["p50_us"] / 1000,
            "p90": raw["p90_us"] / 1000,
            "p99": raw["p99_us"] / 1000,
            "max": raw["max_us"] / 1000,
        },
    }
