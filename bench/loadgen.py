"""A fixed-rate (open-loop, wrk2-style) HTTP/1.1 load generator on raw asyncio streams.

Request i is due at start + i / rate; its latency is measured from when it was due, not from
when a connection got round to sending it, so a stalled server shows up in the tail instead of
silently slowing the generator down (coordinated omission). Run as
`python -m bench.loadgen SPEC.json OUT.json`; the spec names host, port, path, headers, body,
rate, duration and connections. With `ids_out` set, the payload id of every 202 is written
there, one per line.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson


def build_request(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """The raw bytes of one keep-alive POST."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = head.find(b"\r\n", at + 2)
    return int(head[at + 17 : end])


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Send `rate` requests/s for `duration` s; return counts, latencies and payload ids."""
    host, port = spec["host"], int(spec["port"])
    request = build_request(
        host, port, spec["path"], spec.get("headers", {}), spec["body"].encode()
    )
    rate, duration = float(spec["rate"]), float(spec["duration"])
    total = int(rate * duration)
    collect_ids = bool(spec.get("ids_out"))
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    # Like wrk2, the run lasts `duration`: what the server could not take by then is not sent
    # (reported as `not_sent`), so an overloaded server cannot stretch the run without bound.
    stop_at = start + duration + 1.0
    state = {"next": 0}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    ids: list[bytes] = []
    errors: dict[str, int] = {}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while state["next"] < total and loop.time() < stop_at:
                index = state["next"]
                state["next"] = index + 1
                due = start + index / rate
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                body = await reader.readexactly(_content_length(head))
                latencies.append(loop.time() - due)
                status = int(head[9:12])
                statuses[status] = statuses.get(status, 0) + 1
                if collect_ids and status == 202:
                    ids.append(orjson.loads(body)["payload_id"].encode())
        except (OSError, asyncio.IncompleteReadError) as error:
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(int(spec["connections"]))))
    elapsed = time.perf_counter() - began - 0.2
    latencies.sort()
    return {
        "ids": ids,
        "target_rate": rate,
        "sent": len(latencies),
        "not_sent": total - state["next"],
        "achieved_rate": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": errors,
        "latency_ms": percentiles_ms(latencies),
    }


def percentiles_ms(sorted_seconds: list[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max of sorted latencies, in milliseconds."""
    if not sorted_seconds:
        return {}
    last = len(sorted_seconds) - 1

    def at(q: float) -> float:
        return round(sorted_seconds[min(last, int(q * len(sorted_seconds)))] * 1000, 3)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p999": at(0.999), "max": at(1.0)}


def main() -> None:
    """`python -m bench.loadgen SPEC.json OUT.json`."""
    spec = orjson.loads(Path(sys.argv[1]).read_bytes())
    result = asyncio.run(run(spec))
    ids = result.pop("ids")
    if spec.get("ids_out"):
        Path(spec["ids_out"]).write_bytes(b"\n".join(ids))
    Path(sys.argv[2]).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
