"""Embedded PostgreSQL + Redis for `mission-control dev` (real server binaries from wheels)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import pytest
import redis

from cli.embedded import EmbeddedServices, embedded_services


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); count it as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _server_pids(data_dir: Path) -> tuple[int, int]:
    pg_pid = int((data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])
    redis_pid = int((data_dir / "redis" / "redis-server.pid").read_text().strip())
    return pg_pid, redis_pid


async def _pg(dsn: str, *statements: str) -> list[object]:
    conn = await asyncpg.connect(dsn)
    try:
        return [await conn.fetchval(sql) for sql in statements]
    finally:
        await conn.close()


def _check_ports(services: EmbeddedServices) -> None:
    for url in (services.database_url, services.redis_url):
        assert "127.0.0.1:" in url
        assert ":5432/" not in url
        assert ":6379/" not in url


def test_embedded_services_start_stop_and_persist(tmp_path: Path) -> None:
    data_dir = tmp_path / "mc"

    with embedded_services(data_dir) as services:
        _check_ports(services)
        assert services.database_url.endswith("/mission_control")
        first_pids = _server_pids(data_dir)
        assert all(_alive(pid) for pid in first_pids)

        assert asyncio.run(
            _pg(
                services.database_url,
                "SELECT 1",
                "CREATE TABLE persisted (id int PRIMARY KEY)",
                "INSERT INTO persisted VALUES (42)",
            )
        ) == [1, None, None]

        client = redis.Redis.from_url(services.redis_url)
        try:
            assert client.ping() is True
            client.set("queued-job", b"payload")
        finally:
            client.close()

    assert not any(_alive(pid) for pid in first_pids)

    # Second run on the same folder; the body is interrupted like Ctrl-C would.
    second_pids: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        _second_run(data_dir, second_pids)
    assert len(second_pids) == 2
    assert not any(_alive(pid) for pid in second_pids)


def _second_run(data_dir: Path, pids_out: list[int]) -> None:
    with embedded_services(data_dir) as services:
        _check_ports(services)
        pids_out.extend(_server_pids(data_dir))
        assert all(_alive(pid) for pid in pids_out)

        assert asyncio.run(_pg(services.database_url, "SELECT id FROM persisted")) == [42]

        client = redis.Redis.from_url(services.redis_url)
        try:
            assert client.get("queued-job") == b"payload"
        finally:
            client.close()
        raise KeyboardInterrupt
