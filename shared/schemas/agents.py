"""Agents: request bodies and JSON shapes (a token only in the create/rotate answer)."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.schemas.common import Name, RequestModel, id_text


class AgentCreate(RequestModel):
    """`POST /boards/{board_id}/agents`."""

    name: Name
    is_board_lead: bool = False


def agent_json(row: asyncpg.Record) -> dict[str, Any]:
    """An agent as lists and reads show it: never its token or hash."""
    return {
        "id": id_text(row["id"]),
        "name": row["name"],
        "board_id": id_text(row["board_id"]),
        "is_board_lead": row["is_board_lead"],
        "status": row["status"],
        "last_seen_at": row["last_seen_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def agent_with_token_json(row: asyncpg.Record, token: str) -> dict[str, Any]:
    """The one answer that carries the agent's token: create and rotate."""
    return {**agent_json(row), "token": token}
