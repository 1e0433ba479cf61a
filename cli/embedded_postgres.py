"""The embedded PostgreSQL server of `mission-control dev` (binaries from the pgserver wheel)."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.embedded_common import (
    DATABASE_NAME,
    PG_SUPERUSER,
    PG_SYSTEM_USER,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    cmdline,
    free_port,
    log_tail,
    pid_alive,
    postgres_bin_dir,
    wait_gone,
)

logger = logging.getLogger(__name__)


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


class EmbeddedPostgres:
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
                f"--- {self.log} ---\n{log_tail(self.log)}"
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
        self.port = free_port()
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
            if pid is not None and pid_alive(pid) and "postgres" in cmdline(pid):
                logger.warning("killing PostgreSQL postmaster %d", pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGQUIT)
                if not wait_gone(pid, 5):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        else:
            logger.info("PostgreSQL stopped")


# --------------------------------------------------------------------------- Redis
