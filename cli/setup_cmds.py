"""Operator set-up from the shell: `boards create`, `agents create`, `webhooks create`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from cli.output import fail, say
from shared.db import Conn, create_pool
from shared.queries.agents import create_agent
from shared.queries.boards import create_board
from shared.queries.webhooks import create_webhook, endpoint_path, endpoint_url
from shared.settings import Settings, SettingsError
from shared.signatures import SCHEMES
from shared.tokens import mint_token


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an id: {value!r}") from None


def add_commands(commands: Any) -> None:
    """Add the set-up subcommands to the top-level parser."""
    boards = commands.add_parser("boards", help="manage boards").add_subparsers(
        dest="action", required=True
    )
    board = boards.add_parser("create", help="create a board")
    board.add_argument("--name", required=True)
    board.add_argument("--description", default="")

    agents = commands.add_parser("agents", help="manage agents").add_subparsers(
        dest="action", required=True
    )
    agent = agents.add_parser("create", help="create an agent; prints its token once")
    agent.add_argument("--board", type=_uuid, required=True)
    agent.add_argument("--name", required=True)
    agent.add_argument("--lead", action="store_true", help="make it the board lead")

    webhooks = commands.add_parser("webhooks", help="manage webhooks").add_subparsers(
        dest="action", required=True
    )
    hook = webhooks.add_parser("create", help="create a webhook; prints its ingest URL")
    hook.add_argument("--board", type=_uuid, required=True)
    hook.add_argument("--description", default="")
    hook.add_argument("--agent", type=_uuid, help="agent that receives its tasks")
    hook.add_argument("--secret", help="signing secret; '-' reads it from stdin")
    hook.add_argument("--signature-header", help="the only header to read the signature from")
    hook.add_argument("--signature-scheme", default="hmac-sha256", choices=sorted(SCHEMES))
    hook.add_argument("--disabled", action="store_true")


async def _with_conn(settings: Settings, work: Callable[[Conn], Awaitable[None]]) -> None:
    if not settings.database_url:
        raise SettingsError("invalid setting DATABASE_URL: required")
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await work(conn)
    except asyncpg.ForeignKeyViolationError:
        raise fail("no such board or agent") from None
    except asyncpg.CheckViolationError as error:
        raise fail(f"invalid value: {error.constraint_name}") from None
    finally:
        await pool.close()


async def _board_exists(conn: Conn, board_id: uuid.UUID) -> None:
    if not await conn.fetchval("SELECT true FROM boards WHERE id = $1", board_id):
        raise fail(f"no board {board_id}")


def run(settings: Settings, args: argparse.Namespace) -> None:
    """Carry out one set-up subcommand."""

    async def boards_create(conn: Conn) -> None:
        row = await create_board(conn, args.name, args.description)
        say(f"board {row['id']} ({row['name']})")

    async def agents_create(conn: Conn) -> None:
        await _board_exists(conn, args.board)
        minted = await asyncio.get_running_loop().run_in_executor(None, mint_token)
        row = await create_agent(
            conn,
            board_id=args.board,
            name=args.name,
            is_board_lead=args.lead,
            token_key_id=minted.key_id,
            token_hash=minted.token_hash,
        )
        say(f"agent {row['id']} ({row['name']}{', board lead' if row['is_board_lead'] else ''})")
        say(f"token (shown once; store it now): {minted.token}")

    async def webhooks_create(conn: Conn) -> None:
        await _board_exists(conn, args.board)
        secret = args.secret
        if secret == "-":  # noqa: S105 (stdin keeps the secret out of shell history and ps)
            secret = sys.stdin.readline().strip()
        if args.agent and not await conn.fetchval(
            "SELECT true FROM agents WHERE id = $1 AND board_id = $2", args.agent, args.board
        ):
            raise fail(f"no agent {args.agent} on board {args.board}")
        row = await create_webhook(
            conn,
            board_id=args.board,
            description=args.description,
            enabled=not args.disabled,
            agent_id=args.agent,
            secret=secret,
            signature_header=args.signature_header,
            signature_scheme=args.signature_scheme,
        )
        has_secret = "set" if row["has_secret"] else "none"
        say(f"webhook {row['id']} (scheme {row['signature_scheme']}, secret {has_secret})")
        url = endpoint_url(settings.base_url, row["board_id"], row["id"])
        if url is None:
            url = endpoint_path(row["board_id"], row["id"]) + "  (set BASE_URL for the full URL)"
        say(f"ingest URL: {url}")

    actions = {
        ("boards", "create"): boards_create,
        ("agents", "create"): agents_create,
        ("webhooks", "create"): webhooks_create,
    }
    asyncio.run(_with_conn(settings, actions[(args.command, args.action)]))
