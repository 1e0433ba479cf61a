"""Operator API: a board's agents (`/api/v1/boards/{board_id}/agents…`).

A token is shown once, in the answer that minted it (create or rotate); only its hash is kept.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from aiohttp import web

from ingress.auth.user import require_user
from ingress.keys import DB_POOL, TASK_PAGES
from ingress.validation import json_response, page_body, page_params, parse_body, path_uuid
from ingress.views.operator_boards import BOARD_NOT_FOUND
from shared.errors import NotFound
from shared.queries import agents as queries
from shared.queries.boards import board_exists
from shared.schemas.agents import AgentCreate, agent_json, agent_with_token_json
from shared.tokens import MintedToken, mint_token

log = logging.getLogger(__name__)
AGENT_NOT_FOUND = "Agent not found."


async def _mint() -> MintedToken:
    # PBKDF2 takes ~100 ms of CPU: never on the event loop.
    return await asyncio.get_running_loop().run_in_executor(None, mint_token)


async def create_agent(request: web.Request) -> web.Response:
    """`POST …/agents` → 201 agent with its token (the only time it is shown)."""
    await require_user(request)
    board_id = path_uuid(request, "board_id")
    body = await parse_body(request, AgentCreate)
    pool = request.app[DB_POOL]
    async with pool.acquire() as conn:
        if not await board_exists(conn, board_id):
            raise NotFound(BOARD_NOT_FOUND)
    minted = await _mint()
    try:
        async with pool.acquire() as conn:
            row = await queries.create_agent(
                conn,
                board_id=board_id,
                name=body.name,
                is_board_lead=body.is_board_lead,
                token_key_id=minted.key_id,
                token_hash=minted.token_hash,
            )
    except asyncpg.ForeignKeyViolationError:  # the board was deleted meanwhile
        raise NotFound(BOARD_NOT_FOUND) from None
    log.info("agent %s created on board %s", row["id"], board_id)
    return json_response(agent_with_token_json(row, minted.token), status=201)


async def list_agents(request: web.Request) -> web.Response:
    """`GET …/agents` → a page of agents, never a token or hash."""
    await require_user(request)
    board_id = path_uuid(request, "board_id")
    page = page_params(request)
    async with request.app[DB_POOL].acquire() as conn:
        if not await board_exists(conn, board_id):
            raise NotFound(BOARD_NOT_FOUND)
        rows, total = await queries.list_agents(conn, board_id, page.limit, page.offset)
    return json_response(page_body([agent_json(r) for r in rows], total, page))


async def get_agent(request: web.Request) -> web.Response:
    """`GET …/agents/{agent_id}`."""
    await require_user(request)
    board_id, agent_id = path_uuid(request, "board_id"), path_uuid(request, "agent_id")
    async with request.app[DB_POOL].acquire() as conn:
        row = await queries.get_agent(conn, board_id, agent_id)
    if row is None:
        raise NotFound(AGENT_NOT_FOUND)
    return json_response(agent_json(row))


async def rotate_agent_token(request: web.Request) -> web.Response:
    """`POST …/agents/{agent_id}/token` → the agent with a new token; the old one stops working."""
    await require_user(request)
    board_id, agent_id = path_uuid(request, "board_id"), path_uuid(request, "agent_id")
    pool = request.app[DB_POOL]
    async with pool.acquire() as conn:
        if await queries.get_agent(conn, board_id, agent_id) is None:
            raise NotFound(AGENT_NOT_FOUND)
    minted = await _mint()
    async with pool.acquire() as conn:
        row = await queries.rotate_agent_token(conn, agent_id, minted.key_id, minted.token_hash)
    if row is None:  # deleted meanwhile
        raise NotFound(AGENT_NOT_FOUND)
    log.info("agent %s token rotated", agent_id)
    return json_response(agent_with_token_json(row, minted.token))


async def delete_agent(request: web.Request) -> web.Response:
    """`DELETE …/agents/{agent_id}` → 204; its webhooks and tasks keep going, unassigned."""
    await require_user(request)
    board_id, agent_id = path_uuid(request, "board_id"), path_uuid(request, "agent_id")
    async with request.app[DB_POOL].acquire() as conn:
        deleted = await queries.delete_agent(conn, board_id, agent_id)
    request.app[TASK_PAGES].invalidate(board_id)  # its tasks changed (this process sees it now)
    if not deleted:
        raise NotFound(AGENT_NOT_FOUND)
    log.info("agent %s deleted", agent_id)
    return web.Response(status=204)
