"""`mission-control replay`: re-enqueue stored deliveries, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import datetime
from typing import Any

from cli.output import fail, say
from cli.progress import ProgressBar
from shared.db import create_pool
from shared.queries.replay import ReplayFilter
from shared.redis import connect_redis
from shared.replay import ReplayResult, replay_matching
from shared.schemas.replay import parse_instant
from shared.settings import Settings, SettingsError


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an id: {value!r}") from None


def _instant(value: str) -> datetime:
    try:
        return parse_instant(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {value!r}") from None


def add_command(commands: Any) -> None:
    """Add `replay` to the top-level parser."""
    replay = commands.add_parser(
        "replay", help="re-enqueue stored deliveries (by id, webhook, board, status, time)"
    )
    replay.add_argument("--id", dest="ids", type=_uuid, action="append", default=[])
    replay.add_argument("--webhook", type=_uuid)
    replay.add_argument("--board", type=_uuid)
    replay.add_argument("--status", choices=("failed", "processed"))
    replay.add_argument("--since", type=_instant, help="received at or after (ISO 8601)")
    replay.add_argument("--until", type=_instant, help="received before (ISO 8601)")
    replay.add_argument("--dry-run", action="store_true", help="only count what would be replayed")


def filter_of(args: argparse.Namespace) -> ReplayFilter:
    """The deliveries the command line selects."""
    if args.since and args.until and args.since >= args.until:
        raise fail("--since must be before --until")
    return ReplayFilter(
        ids=tuple(args.ids),
        board_id=args.board,
        webhook_id=args.webhook,
        status=args.status,
        received_after=args.since,
        received_before=args.until,
    )


async def _replay(settings: Settings, where: ReplayFilter, dry_run: bool) -> None:
    if not settings.database_url:
        raise SettingsError("invalid setting DATABASE_URL: required")
    bar = ProgressBar()
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    redis = connect_redis(settings.rq_redis_url, timeout=settings.redis_timeout_seconds)
    try:
        result: ReplayResult = await replay_matching(
            pool,
            redis,
            queue_name=settings.queue_name,
            where=where,
            dry_run=dry_run,
            batch_size=settings.replay_batch_size,
            batch_interval_ms=settings.replay_batch_interval_ms,
            progress=bar.update,
        )
    finally:
        bar.close()
        await redis.aclose()
        await pool.close()
    verb = "would replay" if dry_run else "replayed"
    count = result.matched if dry_run else result.replayed
    say(f"matched {result.matched}, {verb} {count} in {bar.elapsed:.1f}s")


def run(settings: Settings, args: argparse.Namespace) -> None:
    """Carry out `mission-control replay`."""
    asyncio.run(_replay(settings, filter_of(args), args.dry_run))
