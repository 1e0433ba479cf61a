"""The benchmark's private world: a throwaway database, a private Redis, pinned subprocesses."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis

from shared.migrate import migrate
from shared.queries.agents import create_agent
from shared.queries.boards import create_board
from shared.queries.webhooks import create_webhook
from shared.tokens import hash_secret, mint_token, parse_token

ADMIN_URL = os.environ.get(
    "BENCH_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REPO = Path(__file__).resolve().parent.parent
CPUS = os.cpu_count() or 1
# Load generators go on the first core, the process under test on the last (when there are two).
LOAD_CPU = "0"
SERVER_CPU = str(CPUS - 1)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(cpu: str | None, argv: list[str]) -> list[str]:
    """`argv` run under `taskset -c cpu` when taskset exists and the machine has the cores."""
    if cpu is None or CPUS < 2 or not shutil.which("taskset"):
        return argv
    return ["taskset", "-c", cpu, *argv]


def python(*module_args: str) -> list[str]:
    """Run a module of this checkout with the current interpreter."""
    return [sys.executable, "-m", *module_args]


@dataclass
class Proc:
    """A subprocess the benchmark started, with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The child's pid (the pinned python itself: taskset execs)."""
        return self.popen.pid

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tail(self, lines: int = 20) -> str:
        """The end of its log, for error reports."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class World:
    """Everything a run owns; `close()` removes all of it."""

    folder: Path
    db_name: str
    database_url: str
    redis_port: int
    redis_proc: subprocess.Popen[bytes]
    token: str
    # Where the services' code comes from: this checkout, or a compiled copy (`--compiled`).
    code_dir: Path = REPO
    procs: list[Proc] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        """The private redis-server's URL."""
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for the service's subprocesses."""
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            RQ_REDIS_URL=self.redis_url,
            AUTH_MODE="local",
            LOCAL_AUTH_TOKEN=self.token,
            LOG_LEVEL="WARNING",
            WORKER_METRICS_PORT="0",
            RATE_LIMIT_BACKEND="memory",
            WEBHOOK_RATE_LIMIT="1000000000/1",
            PYTHONPATH=str(self.code_dir),
        )
        env.update(extra)
        return env

    def spawn(self, name: str, argv: list[str], *, cpu: str | None = None, **env: str) -> Proc:
        """Start a subprocess (pinned to `cpu` if given) logging to the run folder."""
        log_path = self.folder / f"{name}.log"
        with log_path.open("ab") as log_file:
            popen = subprocess.Popen(
                pinned(cpu, argv),
                env=self.env(**env),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.code_dir,
            )
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        """Stop one subprocess and forget it."""
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def flush_redis(self) -> None:
        """Empty the PRIVATE redis-server between phases."""
        client = redis.Redis(port=self.redis_port)
        try:
            client.flushall()
        finally:
            client.close()

    def close(self) -> None:
        """Stop every subprocess, the private Redis, and drop the database."""
        for proc in list(self.procs):
            proc.stop()
        self.procs.clear()
        if self.redis_proc.poll() is None:
            self.redis_proc.terminate()
            try:
                self.redis_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.redis_proc.kill()
                self.redis_proc.wait()
        _run_sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        shutil.rmtree(self.folder, ignore_errors=True)


def _run_sql(url: str, sql: str) -> None:
    import asyncio

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _start_redis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server is needed on PATH")
    # Append-only with fsync every second: the production setting docs/ recommend.
    popen = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--dir",
            str(folder),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return popen
            except redis.ConnectionError:
                time.sleep(0.05)
    finally:
        client.close()
    popen.kill()
    raise RuntimeError("private redis-server did not start")


def compiled_copy(dest: Path) -> Path:
    """This checkout copied to `dest` with the hot path compiled (`scripts/compile-copy`)."""
    subprocess.run(
        [str(REPO / "scripts" / "compile-copy"), str(dest)],
        env={**os.environ, "PYTHON": sys.executable},
        check=True,
    )
    return dest


def open_world(*, compiled: bool = False) -> World:
    """Create the throwaway database (migrated) and start a private redis-server; with
    `compiled`, the services run from a copy of this checkout with the hot path compiled."""
    folder = Path(tempfile.mkdtemp(prefix="mc-bench-"))
    try:
        code_dir = compiled_copy(folder / "code") if compiled else REPO
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    db_name = f"bench_{secrets.token_hex(6)}"
    _run_sql(ADMIN_URL, f'CREATE DATABASE "{db_name}"')
    database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    port = free_port()
    try:
        import asyncio

        asyncio.run(migrate(database_url))
        redis_proc = _start_redis(folder, port)
    except BaseException:
        _run_sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return World(
        folder, db_name, database_url, port, redis_proc, secrets.token_urlsafe(48), code_dir
    )


@dataclass(frozen=True)
class Target:
    """The board and signed webhook every phase posts to."""

    board_id: uuid.UUID
    webhook_id: uuid.UUID
    secret: str

    @property
    def path(self) -> str:
        """The ingest path."""
        return f"/api/v1/boards/{self.board_id}/webhooks/{self.webhook_id}"


async def create_target(database_url: str) -> Target:
    """A board, its lead agent, and a webhook with an HMAC-SHA256 secret."""
    secret = secrets.token_hex(32)
    conn = await asyncpg.connect(database_url)
    try:
        board = await create_board(conn, "bench")
        minted = mint_token(1_000)
        parsed = parse_token(minted.token)
        assert parsed is not None
        await create_agent(
            conn,
            board_id=board["id"],
            name="lead",
            is_board_lead=True,
            token_key_id=minted.key_id,
            token_hash=hash_secret(parsed[1], 1_000),
        )
        hook = await create_webhook(conn, board_id=board["id"], description="bench", secret=secret)
    finally:
        await conn.close()
    return Target(board["id"], hook["id"], secret)


def wait_http_ok(port: int, proc: Proc, path: str = "/healthz", timeout: float = 30.0) -> None:
    """Wait until `GET path` answers 200, or fail with the process's log."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}{path}"
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not become ready:\n{proc.tail()}")
