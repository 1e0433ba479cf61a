"""The `mission-control` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Callable, Sequence

from cli.output import fail, say
from shared.logging import setup_logging
from shared.settings import Settings, SettingsError, load_settings

log = logging.getLogger("mission_control")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mission-control", description="Mission Control Ingest: webhooks in, agent work out."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="apply pending database migrations")
    ingress = commands.add_parser("ingress", help="run the HTTP ingress")
    ingress.add_argument("--host", default="0.0.0.0")  # noqa: S104 (a server listens on all)
    ingress.add_argument("--port", type=int, default=8000)
    ingress.add_argument("--processes", type=int, default=1, help="processes sharing the port")
    commands.add_parser("worker", help="run one queue worker")
    dev = commands.add_parser("dev", help="migrate, ingress and worker in one command")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--data-dir", default=".mission-control", help="embedded servers' data")

    from cli import replay_cmd, setup_cmds

    setup_cmds.add_commands(commands)
    replay_cmd.add_command(commands)
    return parser


def run_guarded(action: Callable[[], object]) -> int:
    """Run `action`; configuration and start-up errors become one line and exit code 2."""
    from ingress.resources import StartupError

    try:
        action()
    except (SettingsError, StartupError) as error:
        raise fail(str(error)) from None
    except OSError as error:
        if error.errno is not None and error.strerror:
            raise fail(f"{error.strerror}: {error.filename or ''}".rstrip(": ")) from None
        raise
    except KeyboardInterrupt:
        return 130
    return 0


def _require_database(settings: Settings) -> str:
    if not settings.database_url:
        raise SettingsError("invalid setting DATABASE_URL: required")
    return settings.database_url


def _migrate(settings: Settings) -> None:
    from shared.migrate import migrate

    applied = asyncio.run(migrate(_require_database(settings)))
    say(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))


def _ingress(settings: Settings, args: argparse.Namespace) -> None:
    from cli.serve import serve_processes

    _require_database(settings)
    if settings.auth_mode is None:
        raise SettingsError("invalid setting AUTH_MODE: required (local or clerk)")
    if args.processes < 1:
        raise SettingsError("--processes must be at least 1")
    code = serve_processes(settings, args.host, args.port, args.processes)
    if code:
        raise SystemExit(code)


def _worker(settings: Settings) -> None:
    from workers.main import run_worker

    _require_database(settings)
    run_worker(settings)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    # A worker serves its own metrics on WORKER_METRICS_PORT. In prometheus-client's multiprocess
    # mode it would write them into files instead (possibly the ingress's folder, adding worker
    # series to the ingress's /metrics). The mode is fixed when prometheus-client is first
    # imported, so the variable goes before anything imports it.
    worker_ignores_multiproc = args.command == "worker" and bool(
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    )

    def action() -> None:
        settings = load_settings()
        setup_logging(settings.log_level, settings.log_format)
        if worker_ignores_multiproc:
            log.info("worker: PROMETHEUS_MULTIPROC_DIR ignored; each worker serves its own metrics")
        if args.command == "migrate":
            _migrate(settings)
        elif args.command == "ingress":
            _ingress(settings, args)
        elif args.command == "worker":
            _worker(settings)
        elif args.command == "replay":
            from cli import replay_cmd

            replay_cmd.run(settings, args)
        elif args.command == "dev":
            from cli.dev import run_dev

            run_dev(args.port, args.data_dir)
        else:
            from cli import setup_cmds

            setup_cmds.run(settings, args)

    raise SystemExit(run_guarded(action))


if __name__ == "__main__":
    main()
