"""compose.yml's healthcheck commands, run as written against real ingress and worker processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from ingress.app import create_app
from tests.conftest import REDIS_URL, make_settings
from tests.support.servers import PrivateRedis, free_port

ROOT = Path(__file__).resolve().parents[2]
CHECK_DEADLINE_SECONDS = 60.0  # a bound against hangs, not a timing assertion


def healthcheck_argv(service: str) -> list[str]:
    """The service's healthcheck command from compose.yml, run with this interpreter."""
    compose = yaml.safe_load((ROOT / "compose.yml").read_text(encoding="utf-8"))
    test: list[str] = compose["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert test[1] == "python"
    return [sys.executable, *test[2:]]


async def run_check(argv: list[str], env: dict[str, str], cwd: Path) -> int:
    """Run a healthcheck command the way the container runtime would; its exit code."""
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), CHECK_DEADLINE_SECONDS)


def child_env(**values: str) -> dict[str, str]:
    """This environment plus `values`, importing the code under test."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **values}


def ingress_check_on(port: int) -> list[str]:
    """The ingress healthcheck aimed at a test server's port instead of 8000."""
    argv = healthcheck_argv("ingress")
    assert "127.0.0.1:8000/readyz" in argv[-1]
    return [*argv[:-1], argv[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")]


async def test_ingress_healthcheck_passes_when_ready_and_fails_when_redis_is_down(
    aiohttp_client: AiohttpClient,
    database_url: str,
    local_token: str,
    private_redis: PrivateRedis,
    tmp_path: Path,
) -> None:
    settings = make_settings(database_url, local_token, rq_redis_url=private_redis.url)
    client = await aiohttp_client(create_app(settings))
    check = ingress_check_on(client.server.port or 0)
    assert await run_check(check, child_env(), tmp_path) == 0
    private_redis.stop()
    assert (await client.get("/readyz")).status == 503
    assert await run_check(check, child_env(), tmp_path) != 0


@pytest.mark.slow
async def test_worker_healthcheck_follows_a_real_worker_process(
    database_url: str, tmp_path: Path
) -> None:
    namespace = f"t{uuid.uuid4().hex[:12]}"
    env = child_env(
        DATABASE_URL=database_url,
        RQ_REDIS_URL=REDIS_URL,
        REDIS_NAMESPACE=namespace,
        WORKER_METRICS_PORT=str(free_port()),
        LOG_LEVEL="WARNING",
    )
    check = healthcheck_argv("worker")
    assert await run_check(check, env, tmp_path) != 0, "healthy with no worker running"

    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "worker", env=env, cwd=tmp_path, stderr=log_file
        )
        try:
            deadline = time.monotonic() + CHECK_DEADLINE_SECONDS
            while (code := await run_check(check, env, tmp_path)) != 0:
                assert worker.returncode is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.2)
            assert code == 0
        finally:
            if worker.returncode is None:
                worker.terminate()
            await asyncio.wait_for(worker.wait(), CHECK_DEADLINE_SECONDS)
    assert await run_check(check, env, tmp_path) != 0, "healthy after the worker stopped"
    await _forget_namespace(namespace)


async def _forget_namespace(namespace: str) -> None:
    """The stopped worker removed its health-check key; drop the rest of its keys."""
    redis: Redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{namespace}:*")]
        if keys:
            await redis.delete(*keys)
        assert not await redis.exists(f"{namespace}:queue:health-check")
    finally:
        await redis.aclose()
