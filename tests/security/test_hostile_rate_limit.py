"""The redis rate limit holds across 4 real ingress processes hammered from many connections."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from shared.settings import Settings
from tests.support.factories import Factory
from tests.support.http import ingest_path
from tests.support.process_env import service_env
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 50
PROCESSES = 4
CONNECTIONS = 40
REQUESTS = 400


@pytest.fixture
async def ingress_processes(
    settings: Settings,
) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    """`mission-control ingress --processes 4` with the redis limiter; its port."""
    port = free_port()
    env = service_env(
        settings,
        RATE_LIMIT_BACKEND="redis",
        WEBHOOK_RATE_LIMIT=f"{LIMIT}/600",
        LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "ingress",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--processes",
        str(PROCESSES),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield port, process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port` (one per process, with SO_REUSEPORT)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == wanted and row[3] == "0A")


async def wait_until_every_process_listens(port: int, process: asyncio.subprocess.Process) -> None:
    """Wait until all processes listen and the app answers (a spawned child starts slowly)."""
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while True:
            assert process.returncode is None, "the ingress exited during start-up"
            if listening_sockets(port) == PROCESSES:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
            assert time.monotonic() < deadline, "the ingress processes did not all start"
            await asyncio.sleep(0.2)


async def test_four_processes_admit_at_most_the_limit_per_window(
    ingress_processes: tuple[int, asyncio.subprocess.Process],
    factory: Factory,
    db: asyncpg.Pool,
) -> None:
    board = await factory.board()
    webhook = await factory.webhook(board)
    port, process = ingress_processes
    await wait_until_every_process_listens(port, process)
    url = f"http://127.0.0.1:{port}{ingest_path(board, webhook)}"
    statuses: list[int] = []
    retry_afters: list[str | None] = []

    async def sender(count: int) -> None:
        # One connection per sender: SO_REUSEPORT spreads connections over the processes.
        connector = aiohttp.TCPConnector(limit=1, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(count):
                async with session.post(url, data=b'{"n": 1}') as response:
                    statuses.append(response.status)
                    if response.status == 429:
                        retry_afters.append(response.headers.get("Retry-After"))

    await asyncio.gather(*(sender(REQUESTS // CONNECTIONS) for _ in range(CONNECTIONS)))
    assert process.returncode is None, "an ingress process died under load"
    assert len(statuses) == REQUESTS
    assert set(statuses) <= {202, 429}, sorted(set(statuses))
    # Atomic check-and-increment in Redis: never more than the limit, and no under-admission.
    assert statuses.count(202) == LIMIT
    assert retry_afters
    assert all(value is not None and int(value) >= 1 for value in retry_afters)
