"""Create boards, agents and webhooks directly in the database for tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.queries.agents import create_agent
from shared.queries.boards import create_board
from shared.queries.webhooks import create_webhook
from shared.tokens import hash_secret, mint_token, parse_token
from tests.support.log_audit import register_secret, register_token

# Tests use a cheap PBKDF2 cost; production's default is checked in the token unit tests.
TEST_ITERATIONS = 1_000


@dataclass(frozen=True)
class AgentWithToken:
    """An agent row and its one-time token."""

    id: uuid.UUID
    board_id: uuid.UUID
    token: str


class Factory:
    """Builds rows with sensible defaults."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def board(self, name: str = "board") -> uuid.UUID:
        """A new board's id."""
        async with self.pool.acquire() as conn:
            row = await create_board(conn, name)
        board_id: uuid.UUID = row["id"]
        return board_id

    async def agent(
        self, board_id: uuid.UUID, name: str = "agent", *, lead: bool = False
    ) -> AgentWithToken:
        """A new agent and its token."""
        minted = mint_token(TEST_ITERATIONS)
        register_token(minted.token)
        parsed = parse_token(minted.token)
        assert parsed is not None
        async with self.pool.acquire() as conn:
            row = await create_agent(
                conn,
                board_id=board_id,
                name=name,
                is_board_lead=lead,
                token_key_id=minted.key_id,
                token_hash=hash_secret(parsed[1], TEST_ITERATIONS),
            )
        return AgentWithToken(row["id"], board_id, minted.token)

    async def webhook(self, board_id: uuid.UUID, **fields: Any) -> uuid.UUID:
        """A new webhook's id."""
        register_secret(fields.get("secret"), "webhook secret")
        async with self.pool.acquire() as conn:
            row = await create_webhook(conn, board_id=board_id, **fields)
        webhook_id: uuid.UUID = row["id"]
        return webhook_id
