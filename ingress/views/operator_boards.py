"""Operator API: boards (`/api/v1/boards…`)."""

from __future__ import annotations

from aiohttp import web

from ingress.auth.user import require_user
from ingress.keys import DB_POOL, TASK_PAGES
from ingress.validation import json_response, page_body, page_params, parse_body, path_uuid
from shared.errors import NotFound
from shared.queries import boards as queries
from shared.schemas.boards import BoardCreate, BoardPatch, board_json

BOARD_NOT_FOUND = "Board not found."


async def create_board(request: web.Request) -> web.Response:
    """`POST /api/v1/boards` → 201 board."""
    await require_user(request)
    body = await parse_body(request, BoardCreate)
    async with request.app[DB_POOL].acquire() as conn:
        row = await queries.create_board(conn, body.name, body.description)
    return json_response(board_json(row), status=201)


async def list_boards(request: web.Request) -> web.Response:
    """`GET /api/v1/boards` → a page of boards."""
    await require_user(request)
    page = page_params(request)
    async with request.app[DB_POOL].acquire() as conn:
        rows, total = await queries.list_boards(conn, page.limit, page.offset)
    return json_response(page_body([board_json(r) for r in rows], total, page))


async def get_board(request: web.Request) -> web.Response:
    """`GET /api/v1/boards/{board_id}`."""
    await require_user(request)
    board_id = path_uuid(request, "board_id")
    async with request.app[DB_POOL].acquire() as conn:
        row = await queries.get_board(conn, board_id)
    if row is None:
        raise NotFound(BOARD_NOT_FOUND)
    return json_response(board_json(row))


async def update_board(request: web.Request) -> web.Response:
    """`PATCH /api/v1/boards/{board_id}`: name and/or description."""
    await require_user(request)
    board_id = path_uuid(request, "board_id")
    body = await parse_body(request, BoardPatch)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    async with request.app[DB_POOL].acquire() as conn:
        row = await queries.update_board(conn, board_id, changes)
    if row is None:
        raise NotFound(BOARD_NOT_FOUND)
    return json_response(board_json(row))


async def delete_board(request: web.Request) -> web.Response:
    """`DELETE /api/v1/boards/{board_id}` → 204; its agents, webhooks and deliveries go too."""
    await require_user(request)
    board_id = path_uuid(request, "board_id")
    async with request.app[DB_POOL].acquire() as conn:
        deleted = await queries.delete_board(conn, board_id)
    request.app[TASK_PAGES].invalidate(board_id)  # its tasks changed (this process sees it now)
    if not deleted:
        raise NotFound(BOARD_NOT_FOUND)
    return web.Response(status=204)
