"""`mission-control dev`: migrate, ingress and worker on one machine in one command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from cli.output import say
from shared.migrate import migrate

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _services(data_dir: Path) -> Iterator[dict[str, str]]:
    """Environment for the child processes: the user's servers, or embedded ones."""
    if os.environ.get("DATABASE_URL"):
        yield {}
        return
    from cli.embedded import embedded_services

    log.info("DATABASE_URL not set: starting embedded PostgreSQL and Redis under %s", data_dir)
    with embedded_services(data_dir) as services:
        yield {"DATABASE_URL": services.database_url, "RQ_REDIS_URL": services.redis_url}


def _local_token(data_dir: Path) -> str:
    """A random operator token kept (mode 0600) in the data folder, made on first use."""
    path = data_dir / "local-auth-token"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def run_dev(port: int, data_dir_name: str) -> None:
    """Run everything until Ctrl-C, then stop it all."""
    data_dir = Path(data_dir_name).resolve()
    with _services(data_dir) as service_env:
        env = {**os.environ, **service_env}
        if not env.get("AUTH_MODE"):
            env["AUTH_MODE"] = "local"
            env["LOCAL_AUTH_TOKEN"] = _local_token(data_dir)
            say(f"operator token (AUTH_MODE=local) is in {data_dir / 'local-auth-token'}")
        env.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
        asyncio.run(migrate(env["DATABASE_URL"]))
        command = [sys.executable, "-m", "cli.main"]
        ingress = [*command, "ingress", "--host", "127.0.0.1", "--port", str(port)]
        # Our own interpreter running our own module: no untrusted input reaches these.
        children = [
            subprocess.Popen(ingress, env=env),  # noqa: S603
            subprocess.Popen([*command, "worker"], env=env),  # noqa: S603
        ]
        say(f"Mission Control Ingest running at {env['BASE_URL']}  (Ctrl-C stops everything)")
        say("set it up in another shell with the same environment, e.g.:")
        say(f"  DATABASE_URL={env['DATABASE_URL']} mission-control boards create --name demo")
        # Ctrl-C and SIGTERM (a service manager's stop) both end everything in order. Set
        # explicitly: a shell may have started us with SIGINT ignored.
        stopping: list[int] = []

        def stop(signum: int, _frame: FrameType | None) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            say("stopping…")
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)  # graceful for both aiohttp and arq
            for child in children:
                try:
                    child.wait(timeout=35)
                except subprocess.TimeoutExpired:
                    child.kill()
