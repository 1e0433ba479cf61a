"""The benchmark's pieces without servers: the wrk scripts and the summary lines."""

from __future__ import annotations

import secrets
from pathlib import Path

from bench.run import table
from bench.scale import scale_lines, summarise
from bench.wrk import write_script


def test_get_script_sends_the_header_and_no_body(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(16)
    script = write_script(tmp_path, None, {"X-Agent-Token": token}, method="GET", name="a.lua")
    text = script.read_text()
    assert script.name == "a.lua"
    assert 'wrk.method = "GET"' in text
    assert f'wrk.headers["X-Agent-Token"] = "{token}"' in text
    assert "wrk.body" not in text


def test_post_script_still_carries_the_body(tmp_path: Path) -> None:
    text = write_script(tmp_path, '{"a": "b"}', {}).read_text()
    assert 'wrk.method = "POST"' in text
    assert 'wrk.body = "{\\"a\\": \\"b\\"}"' in text


def test_table_reports_agent_polling_ratio_and_window_counters() -> None:
    results = {
        "machine": {"cpus": 2, "loadavg_at_start": [1.0, 1.0, 1.0], "loadavg_at_end": [1.0]},
        "agent_polling": {
            "max": {
                "rps": 600.0,
                "non_2xx": 0,
                "socket_errors": 0,
                "latency_ms": {"p50": 1.0, "p99": 2.0},
            },
            "ratio_rps": 0.3,
            "bare": {"rps": 2000.0, "source": "phase (a) of this run"},
            "auth_in_window": {"cached": 1800, "pbkdf2_runs": 0},
            "seconds_from_verification_to_window_end": 4.5,
            "token_memory_seconds": 60.0,
        },
    }
    lines = "\n".join(table(results))
    assert "(f) agent poll, remembered token" in lines
    assert "ratio f/a rps: 0.300" in lines
    assert "1800 remembered, 0 PBKDF2 runs" in lines


def _http_run(rps: float, cpu_us: float, busy: float) -> dict[str, object]:
    return {
        "rps": rps,
        "non_2xx": 0,
        "socket_errors": 0,
        "latency_ms": {"p50": 1.0, "p99": 2.0},
        "server_cpu_us_per_request": cpu_us,
        "server_busy": busy,
    }


def test_table_reports_each_servers_cpu_per_request_and_busy_share() -> None:
    half = {"achieved_rate": 10.0, "latency_ms": {}, "statuses": {"202": 10}, "errors": {}}
    results = {
        "machine": {"cpus": 2, "loadavg_at_start": [1.0, 1.0, 1.0], "loadavg_at_end": [1.0]},
        "http": {
            "bare": {
                "max": _http_run(30_000.0, 33.0, 0.99),
                "server_cpu_us_per_request": 33.0,
                "server_busy": 0.99,
                "half_rate": half,
            },
            "ingress": {
                "max": _http_run(21_000.0, 44.0, 0.94),
                "server_cpu_us_per_request": 44.0,
                "server_busy": 0.94,
                "half_rate": half,
            },
            "ratio_rps": 0.7,
            "ratio_rounds": [0.7],
            "half_rate_rps": 10,
        },
    }
    lines = table(results)
    assert (
        "  server CPU per request: (a) 33.0 µs, busy 0.99; (b) 44.0 µs, busy 0.94;"
        " CPU ratio a/b 0.750"
    ) in lines


def _scale_run(rps: float, cpu_us: float, busy: float) -> dict[str, object]:
    return {
        "rps": rps,
        "non_2xx": 0,
        "socket_errors": 0,
        "ingress_cpu_us_per_request": cpu_us,
        "ingress_cores_busy": busy,
    }


def test_scale_phase_summary_pairs_turns_and_reports_cpu_per_request() -> None:
    runs = {
        1: [_scale_run(10_000.0, 50.0, 0.5), _scale_run(12_000.0, 48.0, 0.58)],
        2: [_scale_run(15_000.0, 51.0, 0.77), _scale_run(18_000.0, 49.0, 0.88)],
    }
    summary = summarise(runs)
    assert summary["rps_ratio"] == 1.5  # each turn's N-process run over its 1-process run
    assert summary["by_processes"]["2"]["rps"] == 16_500.0
    assert summary["by_processes"]["1"]["ingress_cpu_us_per_request"] == 49.0
    lines = scale_lines(summary)
    assert any("--processes 2" in line and "16500 rps" in line for line in lines)
    assert any("1 process: 1.500" in line for line in lines)
