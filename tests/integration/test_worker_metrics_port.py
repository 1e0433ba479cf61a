"""Each worker serves its metrics on WORKER_METRICS_PORT; a taken port costs one warning only."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from shared.settings import Settings
from tests.support.factories import Factory
from tests.support.metrics import parse_samples, value
from tests.support.process_env import service_env
from tests.support.queueing import enqueue_deliveries
from tests.support.servers import free_port
from workers.metrics_server import start_metrics_server, stop_metrics_server

ROOT = Path(__file__).resolve().parents[2]


def _listening_socket() -> socket.socket:
    """A socket holding a port on all interfaces, as another program would."""
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))  # the metrics server binds every interface too
    holder.listen()
    return holder


def _files_in(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir()]


@asynccontextmanager
async def worker_process(
    settings: Settings, port: int, extra: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The real `mission-control worker`, stopped with SIGTERM (its exit status is checked)."""
    env = service_env(settings, WORKER_METRICS_PORT=str(port), **extra)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "worker",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_stored(
    db: asyncpg.Pool, ids: list[str], process: asyncio.subprocess.Process
) -> None:
    for _ in range(600):
        stored = await db.fetchval(
            "SELECT count(*) FROM webhook_payloads"
            " WHERE id = ANY($1::uuid[]) AND status = 'processed'",
            [uuid.UUID(i) for i in ids],
        )
        if stored == len(ids):
            return
        assert process.returncode is None, "the worker ended"
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {stored} of {len(ids)} deliveries stored")


async def _output(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await process.stdout.read()).decode()


async def test_worker_serves_its_own_metrics_after_a_job(
    settings: Settings, factory: Factory, db: asyncpg.Pool, tmp_path: Path
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    port = free_port()
    # Set as an ingress would have it: the worker must not write its metrics there.
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    ids = await enqueue_deliveries(settings, board, hook, 2)
    async with worker_process(
        settings, port, {"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    ) as process:
        await _wait_stored(db, ids, process)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
            samples = parse_samples(await response.text())
    output = await _output(process)
    assert process.returncode == 0, output

    # A fresh process: its counts are exactly this test's jobs.
    assert value(samples, "mc_worker_jobs_total", outcome="processed") == 2
    assert value(samples, "mc_deliveries_persisted_total", status="processed") == 2
    assert value(samples, "mc_worker_job_duration_seconds_count") == 2
    assert value(samples, "mc_worker_job_tries_count") == 2
    assert value(samples, "mc_delivery_lag_seconds_count") == 2
    assert ("mc_queue_depth", frozenset()) in samples
    assert _files_in(multiproc) == []
    assert "PROMETHEUS_MULTIPROC_DIR ignored" in output


async def test_taken_port_costs_one_warning_and_jobs_still_run(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    hook = await factory.webhook(board)
    holder = _listening_socket()
    try:
        port = holder.getsockname()[1]
        ids = await enqueue_deliveries(settings, board, hook, 3)
        async with worker_process(settings, port, {}) as process:
            await _wait_stored(db, ids, process)
            more = await enqueue_deliveries(settings, board, hook, 2)
            await _wait_stored(db, more, process)
        output = await _output(process)
    finally:
        holder.close()
    assert process.returncode == 0, output
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, output
    assert f"worker metrics port {port} unavailable" in warnings[0]


def test_start_metrics_server_on_a_taken_port_warns_once_and_returns_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    holder = _listening_socket()
    try:
        with caplog.at_level(logging.WARNING, logger="workers.metrics_server"):
            assert start_metrics_server(holder.getsockname()[1]) is None
    finally:
        holder.close()
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_metrics_server_serves_and_frees_its_port_on_shutdown() -> None:
    port = free_port()
    server = start_metrics_server(port)
    assert server is not None
    try:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
    finally:
        stop_metrics_server(server)
    assert reply.startswith(b"HTTP/1.0 200")
    assert b"mc_worker_jobs_total" in reply
    # Shut down means the port is free again, not held by a forgotten listening socket
    # (SO_REUSEADDR only lets it past the finished connection's TIME_WAIT).
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("0.0.0.0", port))
        again.listen()
    assert start_metrics_server(0) is None
