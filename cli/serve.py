"""`mission-control ingress`: one process, or N processes sharing the port."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import tempfile
from pathlib import Path
from types import FrameType

from aiohttp import web
from prometheus_client import multiprocess

from ingress.app import create_app
from shared.logging import setup_logging
from shared.settings import Settings, load_settings

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_SECONDS = 30.0
KEEPALIVE_TIMEOUT_SECONDS = 75.0


def serve(settings: Settings, host: str, port: int, *, reuse_port: bool = False) -> None:
    """Run one ingress process until SIGINT/SIGTERM; in-flight requests finish first."""
    web.run_app(
        create_app(settings),
        host=host,
        port=port,
        reuse_port=reuse_port,
        access_log=None,
        print=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        # aiohttp keeps an idle connection for an hour by default; a minute is plenty for
        # senders and agents, and bounds what idle (or slow-loris) clients can hold.
        keepalive_timeout=KEEPALIVE_TIMEOUT_SECONDS,
        handle_signals=True,
    )


def _child(host: str, port: int) -> None:
    from cli.main import run_guarded  # the child re-imports; keep its errors one line too

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    raise SystemExit(run_guarded(lambda: serve(settings, host, port, reuse_port=True)))


def wipe_stale_metric_files(folder: str) -> int:
    """Delete metric files an earlier run left in `folder` (not this process's); return how many."""
    # prometheus-client sums every *.db file in the folder: files of an earlier run would add
    # its counts to ours. This process may already have opened its own files (importing the
    # metrics creates them), so those stay.
    own = f"_{os.getpid()}.db"
    stale = [path for path in Path(folder).glob("*.db") if not path.name.endswith(own)]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def serve_processes(settings: Settings, host: str, port: int, processes: int) -> int:
    """Run `processes` ingress processes on one port (SO_REUSEPORT); return an exit code."""
    user_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if user_dir:
        wiped = wipe_stale_metric_files(user_dir)
        if wiped:
            log.info("removed %d metric file(s) of an earlier run from %s", wiped, user_dir)
    if processes == 1:
        serve(settings, host, port)
        return 0
    # Each process counts its own metrics into files here; /metrics on any process sums them.
    own_dir = None
    if not user_dir:
        own_dir = tempfile.mkdtemp(prefix="mc-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_child, args=(host, port), name=f"ingress-{i}", daemon=False)
        for i in range(processes)
    ]
    for child in children:
        child.start()
    log.info("ingress: %d processes on %s:%d", processes, host, port)

    signalled: set[int] = set()

    def forward(signum: int, _frame: FrameType | None) -> None:
        # Once per child: a second SIGTERM can land after a child has finished its graceful
        # shutdown and removed its handler, and would kill it (exit status -15, not 0).
        for child in children:
            if child.is_alive() and child.pid and child.pid not in signalled:
                signalled.add(child.pid)
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # When any process ends (a crash, or a signal), stop the others too.
    multiprocessing.connection.wait([child.sentinel for child in children])
    forward(signal.SIGTERM, None)
    code = 0
    for child in children:
        child.join()
        code = code or (child.exitcode or 0)
        if child.pid:
            # Drops its "live" gauges, so they stop counting in a /metrics answer.
            multiprocess.mark_process_dead(child.pid)  # type: ignore[no-untyped-call]
    if own_dir:
        shutil.rmtree(own_dir, ignore_errors=True)
    return code
