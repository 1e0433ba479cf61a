"""Agent routes besides tasks: health, heartbeat, board memory and webhook payloads."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from ingress.auth.agent import require_agent
from ingress.auth.token_memory import AgentIdentity
from ingress.keys import DB_POOL
from ingress.validation import json_response, page_body, page_params, path_uuid
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.payloads import decode_payload
from shared.queries.memory import fetch_payload_body, list_memory
from shared.task_rules import truncate_text

PREFIX = "/api/v1/agent"
MAX_CHARS_LIMIT = 10_000_000


async def _agent_of_board(request: web.Request) -> tuple[AgentIdentity, uuid.UUID]:
    agent = await require_agent(request)
    board_id = path_uuid(request, "board_id")
    if agent.board_id != board_id:
        raise Forbidden("Agent does not belong to this board.")
    return agent, board_id


def _identity(agent: AgentIdentity) -> dict[str, Any]:
    return {"agent_id": agent.id, "board_id": agent.board_id, "is_board_lead": agent.is_board_lead}


async def healthz(request: web.Request) -> web.Response:
    """200 with the caller's identity: the token works."""
    agent = await require_agent(request)
    return json_response({"ok": True, **_identity(agent)})


async def heartbeat(request: web.Request) -> web.Response:
    """Mark the agent online (written in the background, at most every 30 s)."""
    agent = await require_agent(request)
    return json_response({"ok": True, "status": "online", **_identity(agent)})


def _is_chat(request: web.Request) -> bool | None:
    raw = request.query.get("is_chat")
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "false", "0"):
        return raw.lower() in ("true", "1")
    raise ValidationFailed(
        [{"loc": ["query", "is_chat"], "msg": "must be true or false", "type": "bool_parsing"}]
    )


async def memory(request: web.Request) -> web.Response:
    """A page of the board's memory, newest first, optionally only chat or only non-chat."""
    _, board_id = await _agent_of_board(request)
    is_chat = _is_chat(request)
    page = page_params(request)
    async with request.app[DB_POOL].acquire() as conn:
        rows, total = await list_memory(
            conn, board_id, is_chat=is_chat, limit=page.limit, offset=page.offset
        )
    return json_response(page_body([dict(r) for r in rows], total, page))


def _max_chars(request: web.Request) -> int | None:
    raw = request.query.get("max_chars")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 3 <= value <= MAX_CHARS_LIMIT:
        raise ValidationFailed(
            [
                {
                    "loc": ["query", "max_chars"],
                    "msg": f"must be an integer from 3 to {MAX_CHARS_LIMIT}",
                    "type": "value_error",
                }
            ]
        )
    return value


async def payload(request: web.Request) -> web.Response:
    """A stored delivery's decoded body; with `max_chars`, cut to that length ending in `...`."""
    _, board_id = await _agent_of_board(request)
    webhook_id = path_uuid(request, "webhook_id")
    payload_id = path_uuid(request, "payload_id")
    max_chars = _max_chars(request)
    async with request.app[DB_POOL].acquire() as conn:
        row = await fetch_payload_body(conn, board_id, webhook_id, payload_id)
    if row is None:
        raise NotFound("Payload not found.")
    value = decode_payload(row["raw_body"], row["content_type"])
    truncated = False
    if max_chars is not None:
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        cut, truncated = truncate_text(text, max_chars)
        if truncated:
            value = cut
    return json_response(
        {
            "id": row["id"],
            "board_id": row["board_id"],
            "webhook_id": row["webhook_id"],
            "content_type": row["content_type"],
            "received_at": row["received_at"],
            "payload": value,
            "truncated": truncated,
        }
    )


ROUTES = [
    web.get(f"{PREFIX}/healthz", healthz),
    web.post(f"{PREFIX}/heartbeat", heartbeat),
    web.get(f"{PREFIX}/boards/{{board_id}}/memory", memory),
    web.get(
        f"{PREFIX}/boards/{{board_id}}/webhooks/{{webhook_id}}/payloads/{{payload_id}}", payload
    ),
]
