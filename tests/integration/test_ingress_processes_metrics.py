"""`mission-control ingress --processes 2` as real processes: /metrics is the sum of both."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import asyncpg
from prometheus_client.multiprocess import MultiProcessCollector
from redis.asyncio import Redis

from shared.settings import Settings
from tests.support.factories import Factory
from tests.support.http import ingest_path
from tests.support.metrics import parse_samples, total, value
from tests.support.process_env import service_env
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 40
_PID_FILE = re.compile(r"_(\d+)\.db$")


def _per_process(folder: Path, name: str, **labels: str) -> dict[int, float]:
    """Each process's own value of a counter or gauge, read from its files in `folder`."""
    by_pid: dict[int, list[str]] = {}
    for path in folder.glob("*.db"):
        if match := _PID_FILE.search(path.name):
            by_pid.setdefault(int(match.group(1)), []).append(str(path))
    found: dict[int, float] = {}
    for pid, files in by_pid.items():
        merged = MultiProcessCollector.merge(files, accumulate=False)  # type: ignore[no-untyped-call]
        for family in merged:
            for sample in family.samples:
                if sample.name == name and set(labels.items()) <= set(sample.labels.items()):
                    found[pid] = found.get(pid, 0.0) + sample.value
    return found


def _own_folders(tmp_path: Path) -> list[Path]:
    """The metrics folders the ingress made for itself under TMPDIR."""
    return list(tmp_path.glob("mc-metrics-*"))


@asynccontextmanager
async def ingress(settings: Settings, tmp_path: Path, extra: dict[str, str]) -> AsyncIterator[int]:
    """Run the real two-process ingress; yield its port; stop it with SIGTERM."""
    port = free_port()
    env = service_env(
        settings,
        WEBHOOK_RATE_LIMIT="100000/60",
        TMPDIR=str(tmp_path),  # where the ingress makes its own metrics folder
        **extra,
    )
    log_path = tmp_path / "ingress.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: ASYNC220 (started once, waited on in a thread)
            [sys.executable, "-m", "cli.main", "ingress", "--processes", "2", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            yield port
        except Exception as error:
            process.kill()
            process.wait()
            said = log_path.read_text()[-3000:]
            raise AssertionError(f"{error}\n--- ingress said (end):\n{said}") from error
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(process.wait, 30)
                finally:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
            redis = Redis.from_url(settings.rq_redis_url)
            try:
                keys = [key async for key in redis.scan_iter(f"{settings.redis_namespace}:*")]
                if keys:
                    await redis.delete(*keys)
            finally:
                await redis.aclose()
    assert process.returncode == 0, log_path.read_text()


async def _get(port: int, path: str) -> tuple[int, str]:
    # A new connection per request: SO_REUSEPORT spreads connections, not requests.
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


async def _post(port: int, path: str) -> int:
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(f"http://127.0.0.1:{port}{path}", json={"n": 1}) as response,
    ):
        return response.status


async def _wait_until_both_serve(port: int, folder: Path) -> None:
    """Probe until two processes have each answered a request (both are listening)."""
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "two ingress processes never both answered"
        try:
            await _get(port, "/healthz")
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
            continue
        served = _per_process(folder, "mc_http_requests_total", route="/healthz")
        if len([pid for pid, count in served.items() if count > 0]) >= 2:
            return


async def _send_and_check(port: int, folder: Path, path: str) -> None:
    await _wait_until_both_serve(port, folder)
    statuses = await asyncio.gather(*(_post(port, path) for _ in range(REQUESTS)))
    assert statuses == [202] * REQUESTS
    # Before any scrape: each process keeps its own cache-age gauge (not only one answering
    # /metrics would).
    ages = _per_process(folder, "mc_webhook_config_cache_age_seconds")
    assert len([pid for pid, age in ages.items() if 0 < age < 60]) == 2, ages

    # Each process hands its buffered request counts to its metric files every second
    # (shared.metric_buffer): within a few seconds the files hold every request.
    def accepted_in_files() -> float:
        return sum(_per_process(folder, "mc_ingest_outcomes_total", outcome="accepted").values())

    deadline = time.monotonic() + 10
    while accepted_in_files() < REQUESTS:
        assert time.monotonic() < deadline, "buffered counts never reached the metric files"
        await asyncio.sleep(0.1)

    for _ in range(6):  # whichever process answers, the sum is the same
        status, text = await _get(port, "/metrics")
        assert status == 200
        samples = parse_samples(text)
        assert value(samples, "mc_ingest_outcomes_total", outcome="accepted") == REQUESTS
        assert total(samples, "mc_http_requests_total", status="202") == REQUESTS
        age = value(samples, "mc_webhook_config_cache_age_seconds")
        assert 0 < age < 60  # generous bound: it is refreshed about every second

    accepted = _per_process(folder, "mc_ingest_outcomes_total", outcome="accepted")
    assert sum(accepted.values()) == REQUESTS
    assert len([pid for pid, count in accepted.items() if count > 0]) == 2, accepted


async def test_two_processes_report_the_sum_of_both(
    settings: Settings, factory: Factory, db: asyncpg.Pool, tmp_path: Path
) -> None:
    board = await factory.board()
    path = ingest_path(board, await factory.webhook(board))
    async with ingress(settings, tmp_path, {}) as port:
        deadline = time.monotonic() + 60
        while not (folders := _own_folders(tmp_path)):
            assert time.monotonic() < deadline, "no metrics folder was made"
            await asyncio.sleep(0.05)
        await _send_and_check(port, folders[0], path)
    assert not _own_folders(tmp_path), "its own metrics folder is removed on exit"


async def test_a_folder_set_by_the_user_is_wiped_at_start_and_dead_gauges_dropped(
    settings: Settings, factory: Factory, db: asyncpg.Pool, tmp_path: Path
) -> None:
    folder = tmp_path / "multiproc"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    # An earlier run's counts, left behind as a crash or a restart leaves them.
    subprocess.run(  # noqa: ASYNC221 (set-up before the server runs)
        [
            sys.executable,
            "-c",
            "from shared.metrics import INGEST_OUTCOMES, CONFIG_CACHE_AGE;"
            "INGEST_OUTCOMES.labels('accepted').inc(1000); CONFIG_CACHE_AGE.set(9999)",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    stale = _per_process(folder, "mc_ingest_outcomes_total", outcome="accepted")
    assert list(stale.values()) == [1000]

    board = await factory.board()
    path = ingest_path(board, await factory.webhook(board))
    async with ingress(settings, tmp_path, {"PROMETHEUS_MULTIPROC_DIR": str(folder)}) as port:
        await _send_and_check(port, folder, path)
        children = list(_per_process(folder, "mc_http_requests_total"))
    assert len(children) == 2
    # Once the processes have ended their "live" gauges are gone, so they no longer count.
    live_gauges = {
        int(match[1])
        for path in folder.glob("gauge_livemax_*.db")
        if (match := _PID_FILE.search(path.name))
    }
    assert not live_gauges & set(children)
